/**
 * Every cataloger the SBOM runner runs, in this order (one line each; the order is also the order
 * of their warnings).
 */
import type { Cataloger } from '../types.js';
import { apkCataloger } from './apk.js';
import { dpkgCataloger } from './dpkg.js';
import { rpmCataloger } from './rpm.js';

export const CATALOGERS: readonly Cataloger[] = [
  dpkgCataloger,
  apkCataloger,
  rpmCataloger,
];
