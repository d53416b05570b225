/**
 * The result of cataloguing one filesystem (COMMON.md item 1). Stand-in until catalog.ts of the
 * runner lands; identical to its definition.
 */
import type { Distro, SbomPackage } from './types.js';

export interface SbomResult {
  readonly packages: readonly SbomPackage[];
  readonly distro: Distro | undefined;
  readonly catalogers: readonly string[];
}
