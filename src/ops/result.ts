/**
 * What a plan vertex evaluates to: a filesystem state as a stack of layers (images, RUN, COPY
 * results; a step's own layer is lazy until something needs it, see layers.ts), or a plain directory on the host (the build context, a downloaded file) that is read but
 * never stored.
 */
import type { StepLayer } from '../cache/index.js';
import type { SourceCheck } from './file/index.js';

export type { SourceCheck };

export type FsResult =
  | { readonly kind: 'layers'; readonly layers: readonly StepLayer[] }
  | { readonly kind: 'dir'; readonly path: string; readonly check?: SourceCheck | undefined };

export const EMPTY_FS: FsResult = { kind: 'layers', layers: [] };
