/**
 * `stagecraft lock`: resolves a Dockerfile's inputs as a build would — base images and
 * `COPY --from=<image>` / `RUN --mount=from=<image>` through the registry (tags resolved now, not
 * from the store, as `--pull`), `ADD <url>` downloaded once for its sha256 — and writes the pins to
 * `stagecraft.lock` beside the Dockerfile, atomically. Nothing is built or unpacked.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Content } from '../content/index.js';
import type { Platform } from '../core/index.js';
import { ShellLex, convertDockerfile, loadDockerfile, parseTriggerCommands } from '../dockerfile/index.js';
import { BaseImages, HttpDownloads, makeLockfile, serializeLockfile, type Lockfile } from '../ops/index.js';
import type { RegistryClient } from '../registry/index.js';
import { writeFileAtomic } from '../util/atomic.js';

export interface LockOptions {
  readonly dockerfile: { readonly path: string; readonly text: string };
  readonly buildArgs: ReadonlyMap<string, string>;
  readonly target?: string | undefined;
  /** Every platform to pin (one entry per image and platform). */
  readonly platforms: readonly Platform[];
  readonly buildPlatform: Platform;
  /** Where the lock is written. */
  readonly output: string;
  readonly signal?: AbortSignal | undefined;
}

export interface LockResult {
  readonly path: string;
  readonly lock: Lockfile;
}

export async function lockInputs(deps: { readonly content: Content; readonly registry: RegistryClient; readonly stateRoot: string }, options: LockOptions): Promise<LockResult> {
  const signal = options.signal ?? new AbortController().signal;
  const parsed = loadDockerfile(options.dockerfile.text, options.dockerfile.path);
  const images = new BaseImages({ content: deps.content, registry: deps.registry, pull: true });
  const runDir = await mkdtemp(join(deps.stateRoot, 'lock-'));
  const downloads = new HttpDownloads({ root: runDir, content: deps.content });
  try {
    const lex = new ShellLex({ escapeToken: parsed.escapeToken });
    for (const platform of options.platforms) {
      const converted = await convertDockerfile(parsed, {
        lex,
        buildArgs: options.buildArgs,
        target: options.target,
        buildPlatform: options.buildPlatform,
        targetPlatform: platform,
        resolveImage: async (ref, p) => {
          const base = await images.resolve(ref, p, signal);
          return { ref: base.pinned, image: base.config };
        },
        parseTriggers: (text) => parseTriggerCommands(text, 'ONBUILD trigger'),
      });
      // What the solve would fetch: images named by COPY --from / RUN --mount=from, and ADD URLs.
      for (const vertex of converted.plan.vertices) {
        if (vertex.op.type === 'image') await images.resolve(vertex.op.ref, vertex.op.platform, signal);
        if (vertex.op.type === 'http' && vertex.op.checksum === undefined) await downloads.blob(vertex.op, signal);
      }
    }
    const lock = makeLockfile({ dockerfile: options.dockerfile, images: images.resolved(), urls: downloads.digests() });
    await writeFileAtomic(options.output, serializeLockfile(lock));
    return { path: options.output, lock };
  } finally {
    await downloads[Symbol.asyncDispose]();
    await rm(runDir, { recursive: true, force: true });
  }
}
