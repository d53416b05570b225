export { parseInstruction, parseStages, heredocMarker, INSTRUCTION_NAMES } from './parse.js';
export { parseFlags, FlagError, type FlagKind, type FlagSpec, type FlagValues } from './flags.js';
export { parseMount, secretMountId, sshMountId, splitCsv, parseRamBytes, MOUNT_TYPES, SHARING_MODES, type MountType, type RunMount, type SharingMode } from './mount.js';
export { parseGoDuration } from './duration.js';
export type * from './types.js';
