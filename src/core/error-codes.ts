/**
 * Every user-reachable failure has a stable code, declared here once. The CLI maps a code to an exit
 * status through `exitCode`; docs/errors.md documents each code (a unit test keeps the two in sync).
 */
export const ERROR_CODES = {
  USAGE: { exit: 2, summary: 'A command-line flag or argument is missing or invalid.' },
  DOCKERFILE_SYNTAX: { exit: 3, summary: 'The Dockerfile cannot be parsed.' },
  DOCKERFILE_INSTRUCTION: { exit: 3, summary: 'An instruction has an invalid flag, argument or value.' },
  DOCKERFILE_STAGE: { exit: 3, summary: 'A stage reference is unknown, duplicated or cyclic, or --target names no stage.' },
  SHELL_EXPANSION: { exit: 3, summary: 'A variable substitution in the Dockerfile is malformed or a required variable is unset.' },
  FILE_NOT_FOUND: { exit: 4, summary: 'A file or directory named on the command line or in the Dockerfile does not exist.' },
  INVALID_REFERENCE: { exit: 2, summary: 'An image reference is not of the form [registry/]repository[:tag][@digest].' },
  INVALID_DIGEST: { exit: 2, summary: 'A digest is not of the form sha256:<64 lower-case hex digits>.' },
  DIGEST_MISMATCH: { exit: 5, summary: 'Content read from outside did not match its declared digest or size; nothing was stored.' },
  INVALID_MANIFEST: { exit: 5, summary: 'A manifest, index or config from a registry or file failed validation.' },
  UNSUPPORTED_MEDIA_TYPE: { exit: 5, summary: 'A manifest uses a media type stagecraft does not support (e.g. Docker schema 1).' },
  NOT_FOUND: { exit: 6, summary: 'An image, tag or blob does not exist in the store or the registry.' },
  PLATFORM_MISMATCH: { exit: 6, summary: 'No manifest in an index matches the requested platform.' },
  REGISTRY_AUTH: { exit: 7, summary: 'The registry refused the credentials, or none were given where they are needed.' },
  REGISTRY_ERROR: { exit: 7, summary: 'The registry answered with an error, could not be reached after retries, or accepted the connection and sent no response within the response timeout (30 s, config registryResponseTimeout).' },
  STORE_CORRUPT: { exit: 8, summary: 'The state root holds data that fails verification.' },
  STORE_BUSY: { exit: 8, summary: 'The state root is in use by a running build, so an exclusive operation (prune --all) cannot run now.' },
  NO_SPACE: { exit: 8, summary: 'The filesystem of the state root (or of an output) is full; the store stays consistent, and prune frees space.' },
  CONFIG: { exit: 2, summary: 'A configuration file or environment variable is invalid.' },
  EXTERNAL_TOOL: { exit: 9, summary: 'A required system program (e.g. runc) is missing or failed.' },
  REPORT_FAILED: { exit: 7, summary: 'A stagecraft server (history push, build --report-to) did not take every queued build record; they stay queued and are sent again later.' },
  LAYER_INVALID: { exit: 5, summary: 'A layer blob is not a valid plain, gzip or zstd tar archive.' },
  LAYER_UNSAFE: { exit: 5, summary: 'A layer tries to write outside its root (.., absolute path, symlink or hardlink escape); nothing outside was touched.' },
  SNAPSHOT: { exit: 8, summary: 'A snapshot could not be prepared, mounted, committed or removed (e.g. an overlayfs mount failed).' },
  ARCHIVE_INVALID: { exit: 5, summary: 'An image archive (docker-archive or OCI archive) is malformed, incomplete or names content it does not contain.' },
  INVALID_PATTERN: { exit: 3, summary: 'A .dockerignore, --exclude or COPY source pattern is malformed (e.g. an unclosed "[" or a lone "!").' },
  FILE_OPERATION: { exit: 4, summary: 'A COPY, ADD, WORKDIR or file step cannot be carried out, or a step made a file no layer can hold (e.g. a directory onto a file, an archive entry escaping its destination, an invalid --chmod, a name starting with .wh.).' },
  USER_NOT_FOUND: { exit: 3, summary: "A USER names a user or group that the image's /etc/passwd or /etc/group does not define." },
  EXEC_START: { exit: 10, summary: 'A RUN step could not start: the command is not an executable of the image, or runc rejected the container.' },
  BUILD_STEP_FAILED: { exit: 1, summary: 'A RUN step exited with a non-zero status; the message shows the step, its exit code and its last output.' },
  CHECK_FAILED: { exit: 1, summary: 'Build checks found violations and the check configuration (# check=error=true or BUILDKIT_DOCKERFILE_CHECK) makes them fail the build.' },
  LOCK_MISMATCH: { exit: 13, summary: 'A build with --locked found an input missing from stagecraft.lock, a Dockerfile whose digest changed since the lock was written, or fetched content that does not match its locked digest; `stagecraft lock` writes a new lock.' },
  OFFLINE_MISSING: { exit: 6, summary: 'A build with --offline needs an image or an ADD URL that is not in the local store; build once online (or pull it) first.' },
  VERIFY_INPUT: { exit: 2, summary: "stagecraft verify cannot rebuild an image: its provenance lacks what a rebuild needs (the attestation, the Dockerfile, build arguments or the context), as the message names." },
  POLICY_INVALID: { exit: 2, summary: 'A policy file (--policy) is malformed, names an unknown rule or has a CEL expression that does not compile; the message gives its file, line and column.' },
  POLICY_DENIED: { exit: 11, summary: 'The image failed the policy gate: nothing was exported, stored under its names or pushed; every rule is printed with pass/fail and its evidence.' },
  KEY_INVALID: { exit: 2, summary: 'A signing or verification key file is malformed, of an unsupported type, or its password is wrong.' },
  SIGNATURE_INVALID: { exit: 12, summary: 'An image has no signature by the given key, or a signature, its subject or a signed attestation does not verify.' },
  ROOTLESS: { exit: 9, summary: 'An unprivileged (rootless) run cannot set up its user namespace (disabled by a sysctl, newuidmap/newgidmap missing or refusing the map), or an image or step needs a uid/gid outside the mapped ranges.' },
  ABORTED: { exit: 130, summary: 'The operation was interrupted.' },
} as const satisfies Record<string, { exit: number; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function exitCode(code: ErrorCode): number {
  return ERROR_CODES[code].exit;
}
