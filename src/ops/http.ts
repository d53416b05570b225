/**
 * `ADD <url>`: downloads over HTTP(S) with Node's fetch. With `--checksum` the key is the checksum
 * (no download needed to decide a cache hit) and the download is verified against it; otherwise the
 * key is the digest of the downloaded content.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StagecraftError } from '../core/index.js';
import type { HttpSourceOp } from '../plan/index.js';

const downloads = new Map<string, Promise<{ dir: string; digest: string }>>();

async function download(op: HttpSourceOp, root: string, signal: AbortSignal): Promise<{ dir: string; digest: string }> {
  const key = `${op.url}|${op.checksum ?? ''}|${root}`;
  let pending = downloads.get(key);
  if (pending === undefined) {
    pending = (async () => {
      let response: Response;
      try {
        response = await fetch(op.url, { signal, redirect: 'follow' });
      } catch (error) {
        throw new StagecraftError('REGISTRY_ERROR', `ADD ${op.url}: ${error instanceof Error ? error.message : String(error)}`, { hint: 'check the URL and the network', cause: error });
      }
      if (!response.ok) throw new StagecraftError('NOT_FOUND', `ADD ${op.url}: the server answered ${response.status}`, { hint: 'check the URL' });
      const data = Buffer.from(await response.arrayBuffer());
      const algorithm = op.checksum?.split(':')[0] ?? 'sha256';
      const digest = `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
      if (op.checksum !== undefined && digest !== op.checksum) {
        throw new StagecraftError('DIGEST_MISMATCH', `ADD ${op.url}: digest mismatch ${digest} != ${op.checksum}`, { hint: 'the file changed on the server, or --checksum is wrong' });
      }
      await mkdir(root, { recursive: true });
      const dir = await mkdtemp(join(root, 'http-'));
      // 0600, as BuildKit's HTTP source writes a downloaded file (and the Dockerfile reference documents).
      await writeFile(join(dir, `.${op.filename}.partial`), data, { mode: 0o600 });
      await rename(join(dir, `.${op.filename}.partial`), join(dir, op.filename));
      return { dir, digest };
    })();
    downloads.set(key, pending);
    pending.catch(() => downloads.delete(key));
  }
  return pending;
}

export async function httpCacheKey(op: HttpSourceOp, root: string, signal: AbortSignal): Promise<unknown> {
  if (op.checksum !== undefined) return { type: 'http', checksum: op.checksum, filename: op.filename };
  const { digest } = await download(op, root, signal);
  return { type: 'http', digest, filename: op.filename };
}

export async function fetchHttp(op: HttpSourceOp, root: string, signal: AbortSignal): Promise<string> {
  return (await download(op, root, signal)).dir;
}
