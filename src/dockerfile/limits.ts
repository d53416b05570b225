/**
 * Resource limits for an untrusted Dockerfile. A Dockerfile is input from whoever opened the pull
 * request, so its text, and what variable expansion makes of it, is bounded before it can exhaust the
 * builder's memory or time (`ENV b=$a$a` repeated doubles a value at every line; a 4 GB value aborts
 * the process). Each limit is checked while the thing grows, never after it has been built.
 *
 * Sizes of the file, its lines and heredocs are UTF-8 bytes (as BuildKit counts them); sizes of
 * expanded text are JavaScript string lengths (UTF-16 code units: one per ASCII character).
 *
 * The values are far above what real Dockerfiles use. Exceeding one is a DOCKERFILE_SYNTAX (file,
 * line, instruction and heredoc sizes), DOCKERFILE_STAGE (stages), SHELL_EXPANSION (expansion) or
 * DOCKERFILE_INSTRUCTION (environment, output) error naming the line and the limit.
 * - `lineBytes` is BuildKit's own: its parser reads lines with a default `bufio.Scanner`, so a longer
 *   line fails with "dockerfile line greater than max allowed size of 65535" there too.
 * - `fileBytes` is the largest Dockerfile a BuildKit frontend image (`# syntax=docker/dockerfile:1`)
 *   can read through the gateway (its gRPC messages are limited to 16 MiB).
 * - BuildKit has no limits on instructions, stages, heredocs or expansion (Go grows until the kernel
 *   kills it); ours leave room for generated Dockerfiles with hundreds of stages.
 * - `envChars`: a RUN step cannot start with more than 2 MiB of arguments and environment (Linux
 *   ARG_MAX with the default 8 MiB stack), so a larger environment can only break the build later.
 */
export const DOCKERFILE_LIMITS = Object.freeze({
  /** Size of the Dockerfile. */
  fileBytes: 16 * 1024 * 1024,
  /** Size of one physical line (continuation lines each count on their own), without its newline. */
  lineBytes: 65_535,
  /** Instructions in the file (an ONBUILD and its trigger count once). */
  instructions: 10_000,
  /** FROM instructions. */
  stages: 1_000,
  /** Size of one heredoc body. */
  heredocBytes: 4 * 1024 * 1024,
  /** Characters that variable expansion may produce for one instruction, all its words together. */
  instructionExpansionChars: 8 * 1024 * 1024,
  /** Characters of a stage's environment: its image's Env plus the ARG values in scope. */
  envChars: 1024 * 1024,
  /**
   * Characters a whole conversion may produce from the Dockerfile: expanded words, history lines and
   * the environment of every RUN step (which is hashed into its cache key). Real Dockerfiles produce
   * well under 1 MiB.
   */
  outputChars: 64 * 1024 * 1024,
});

export type DockerfileLimits = typeof DOCKERFILE_LIMITS;

/** `1048576` → `1 MiB`, `65535` → `65535 bytes`, for messages. */
export function formatSize(size: number, unit = 'bytes'): string {
  if (size >= 1024 * 1024 && size % (1024 * 1024) === 0) return `${size / (1024 * 1024)} Mi${unit === 'bytes' ? 'B' : ` ${unit}`}`;
  return `${size} ${unit}`;
}

/** A text for messages that may quote a huge word: at most `max` characters, then an ellipsis. */
export function clip(text: string, max = 120): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}
