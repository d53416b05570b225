/**
 * File operations of the plan (COPY/ADD/WORKDIR and inline files) on plain directories, with
 * BuildKit's semantics. The integrator mounts the destination rootfs and the inputs and calls
 * `applyFileActions`.
 */
export { applyFileActions, cleanActionPath, type FileOpOptions, type FileOpRoots } from './actions.js';
export type { SourceCheck } from './copy.js';
export { applyMode, parseChmod, type ModeSpec } from './chmod.js';
export { resolveOwner } from './owner.js';
export type { Owner } from './root.js';
export { isArchive } from './unpack.js';
export { resolveWildcards } from './wildcards.js';
