/**
 * Named build contexts (`--build-context`) made ready for a build: a directory becomes a second
 * BuildContext (its own `.dockerignore`, as BuildKit reads it from the named directory; files keyed by
 * content like the main context's), an OCI layout is copied into the store and used as an image
 * pinned by digest (BuildKit's `NAME@DIGEST`), an image reference is used as written.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildContext, type StatCache } from '../cache/index.js';
import type { Content } from '../content/index.js';
import { StagecraftError, formatImageRef, normalizePlatform, parseImageRef, withDigest, withoutTagOrDigest, type PlatformFields } from '../core/index.js';
import { namedContextName, type ConvertNamedContext, type NamedContextSpec } from '../dockerfile/index.js';
import { importOciLayout } from '../ops/oci-layout.js';
import { parseDockerignore } from '../util/dockerignore.js';
import type { Disposer } from '../util/disposer.js';

export interface PreparedContexts {
  /** What the conversion sees, by context key. */
  readonly convert: ReadonlyMap<string, ConvertNamedContext>;
  /** Directory contexts by their plan name (`namedContextName`). */
  readonly dirs: ReadonlyMap<string, BuildContext>;
}

async function readIgnore(dir: string): Promise<string[]> {
  try {
    return parseDockerignore(await readFile(join(dir, '.dockerignore')));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return [];
    if (code === 'ENOTDIR') throw new StagecraftError('FILE_NOT_FOUND', `build context directory ${dir} is not a directory`, { hint: 'give --build-context NAME=DIR a directory' });
    throw error;
  }
}

export async function prepareNamedContexts(
  specs: ReadonlyMap<string, NamedContextSpec>,
  deps: { readonly content: Content; readonly statCache: StatCache; readonly viewRoot: string; readonly platform: PlatformFields; readonly disposer: Disposer; readonly signal: AbortSignal },
): Promise<PreparedContexts> {
  const convert = new Map<string, ConvertNamedContext>();
  const dirs = new Map<string, BuildContext>();
  let index = 0;
  for (const [name, spec] of specs) {
    switch (spec.kind) {
      case 'local': {
        const dir = new BuildContext({ dir: spec.dir, ignore: await readIgnore(spec.dir), statCache: deps.statCache, viewRoot: join(deps.viewRoot, `named-${index++}`) });
        dirs.set(namedContextName(name), dir);
        convert.set(name, { kind: 'local' });
        break;
      }
      case 'image':
        convert.set(name, { kind: 'image', ref: spec.ref });
        break;
      case 'scratch':
        convert.set(name, { kind: 'scratch' });
        break;
      case 'oci-layout': {
        const lease = deps.disposer.use(deps.content.leases.create({ label: `build context ${name}` }));
        const digest = await importOciLayout(deps.content, spec, normalizePlatform(deps.platform), `--build-context ${name}=oci-layout://${spec.dir}`, lease, deps.signal);
        // The context's own name pinned to the digest, as BuildKit names an oci-layout context.
        const ref = withDigest(withoutTagOrDigest(parseImageRef(name, { defaultTag: false })), digest);
        convert.set(name, { kind: 'image', ref: formatImageRef(ref) });
        break;
      }
    }
  }
  return { convert, dirs };
}
