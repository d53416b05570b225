/**
 * Attestations as files of a `-o type=local|tar` output, as BuildKit's local and tar exporters write
 * them: one in-toto statement per attestation at the root of the output (`sbom.spdx.json`,
 * `sbom-<stage>.spdx.json`, `provenance.json` or its `filename=`), JSON indented by two spaces, mode
 * 0600; the subjects are the output's regular files (path relative to the root, sha256 of the
 * content). Inline-only attestations (buildx's default provenance) are not written.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { makeStatement, type InTotoSubject } from '../attest/index.js';
import { walkTree } from '../snapshot/index.js';
import type { Attestation } from './attest.js';

export interface AttestationFile {
  readonly name: string;
  readonly bytes: Buffer;
}

async function sha256File(path: string, signal: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash, { signal });
  return hash.digest('hex');
}

/** The output's regular files as statement subjects, in path order (the walk is sorted). */
async function fileSubjects(root: string, signal: AbortSignal): Promise<InTotoSubject[]> {
  const out: InTotoSubject[] = [];
  for await (const entry of walkTree(root, '', signal)) {
    if (!entry.stat.isFile()) continue;
    out.push({ name: entry.path, digest: { sha256: await sha256File(entry.source, signal) } });
  }
  return out;
}

/** The files to add to a local/tar output whose tree is at `root`; empty when none applies. */
export async function attestationFiles(attestations: readonly Attestation[], root: string, signal: AbortSignal): Promise<AttestationFile[]> {
  const files = attestations.filter((a) => !a.inlineOnly);
  if (files.length === 0) return [];
  const subjects = await fileSubjects(root, signal);
  return files.map((a) => ({ name: a.path, bytes: Buffer.from(JSON.stringify(makeStatement(subjects, a.predicateType, a.predicate), null, 2)) }));
}
