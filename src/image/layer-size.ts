/**
 * The unpacked (uncompressed tar) size of a layer, as `docker images` and `docker history` count
 * sizes. A plain tar layer's size is its blob size; a compressed layer is decompressed once, counted,
 * and its size remembered by diff ID (the same for every compression of that tar) in the metadata
 * database, so listing images does not read layers again.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Digest } from '../core/index.js';
import type { Content } from '../content/index.js';
import type { Database, Migration } from '../db/index.js';
import type { Descriptor } from '../oci/index.js';
import { decompressLayer } from '../snapshot/index.js';

const OWNER = 'image';

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'unpacked layer sizes by diff ID',
    up: `
      CREATE TABLE image_layer_sizes (
        diff_id TEXT PRIMARY KEY,
        size INTEGER NOT NULL
      ) STRICT;
    `,
  },
];

const sizeRow = z.object({ size: z.number().int().nonnegative() });

const migrated = new WeakSet<Database>();

function ensureSchema(db: Database): void {
  if (migrated.has(db)) return;
  db.migrate(OWNER, MIGRATIONS);
  migrated.add(db);
}

/**
 * The size in bytes of layer `layer` once decompressed (its tar); `diffId` is the digest of that tar.
 * Reads the blob at most once per diff ID and state root.
 */
export async function unpackedLayerSize(content: Content, layer: Descriptor, diffId: Digest, signal?: AbortSignal): Promise<number> {
  if (layer.digest === diffId) return layer.size;
  const db = content.blobs.db;
  ensureSchema(db);
  const known = db.statement<{ diff_id: string }, z.infer<typeof sizeRow>>('SELECT size FROM image_layer_sizes WHERE diff_id = @diff_id', sizeRow).get({ diff_id: diffId });
  if (known !== undefined) return known.size;
  const { tar } = await decompressLayer(await content.blobs.open(layer.digest));
  let size = 0;
  const hash = createHash('sha256');
  for await (const chunk of tar) {
    signal?.throwIfAborted();
    size += (chunk as Buffer).length;
    hash.update(chunk as Buffer);
  }
  // Remembered only for the tar the diff ID names: a config that lies about its diff IDs cannot
  // give another image's layer a wrong size.
  if (`sha256:${hash.digest('hex')}` !== diffId) return size;
  db.command<{ diff_id: string; size: number }>('INSERT OR REPLACE INTO image_layer_sizes (diff_id, size) VALUES (@diff_id, @size)')({ diff_id: diffId, size });
  return size;
}
