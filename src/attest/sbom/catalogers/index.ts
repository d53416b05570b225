/**
 * Every cataloger the SBOM runner runs, in this order (one line each; the order is also the order
 * of their warnings).
 */
import type { Cataloger } from '../types.js';
import { dpkgCataloger } from './dpkg.js';

export const CATALOGERS: readonly Cataloger[] = [
  dpkgCataloger,
];
