/**
 * `stagecraft verify IMAGE [CONTEXT] | CONTEXT` (without `--key`): rebuilds in fresh state roots and
 * says whether the build reproduces; on a mismatch prints the semantic diff, layer by layer, with
 * the Dockerfile step of each differing layer. Exit status 0 reproduced, 1 differs.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { StagecraftError, hostPlatform } from '../../core/index.js';
import type { VerifyResult } from '../../engine/index.js';
import type { EntryChange, LayerEntry } from '../../image/index.js';
import { ExitStatus } from '../exit-status.js';
import type { CliIo } from '../main.js';
import { parseBuildArgs, readDockerfile } from '../options.js';
import { PROGRESS_MODES, progressSink } from '../progress/index.js';
import { packageVersion } from '../version.js';
import { sourceDateEpoch } from './build.js';
import { lockPathFor, readLock } from './lock.js';
import { platformOption, withEngine } from './store-context.js';

export interface VerifyReproFlags {
  file?: string;
  buildArg?: string[];
  target?: string;
  platform?: string;
  keepDir?: string;
  format?: string;
  progress?: string;
  locked?: boolean;
}

const FORMATS = ['text', 'json'] as const;

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() === true;
}

function entryText(entry: LayerEntry | undefined): string {
  if (entry === undefined) return '';
  const parts = [entry.kind, `0${entry.mode.toString(8)}`, `${entry.uid}:${entry.gid}`];
  if (entry.kind === 'file') parts.push(`${entry.size} bytes`, entry.digest ?? '');
  if (entry.linkname !== '') parts.push(`→ ${entry.linkname}`);
  if (entry.device !== '') parts.push(`dev ${entry.device}`);
  const xattrs = Object.keys(entry.xattrs);
  if (xattrs.length > 0) parts.push(`xattrs ${xattrs.join(',')}`);
  return parts.join(' ');
}

function changeText(change: EntryChange): string {
  const path = `/${change.path}`;
  switch (change.change) {
    case 'added':
      return `  added    ${path}  ${entryText(change.b)}`;
    case 'removed':
      return `  removed  ${path}  ${entryText(change.a)}`;
    case 'changed':
      return `  changed  ${path}  ${change.fields.map((f) => `${f.field} ${f.a || '(none)'} → ${f.b || '(none)'}`).join('; ')}`;
  }
}

const shown = (value: unknown): string => (value === undefined ? '(absent)' : JSON.stringify(value));

/** The result as text: digests side by side, then what differs. */
export function verifyText(result: VerifyResult): string {
  const lines = [`verify ${result.subject}`];
  if (result.epoch !== undefined) lines.push(`  epoch      ${result.epoch} (SOURCE_DATE_EPOCH)`);
  const width = Math.max(result.a.label.length, 71);
  lines.push(`             ${result.a.label.padEnd(width)}  ${result.b.label}`);
  lines.push(`  index      ${(result.a.index ?? '-').padEnd(width)}  ${result.b.index ?? '-'}`);
  lines.push(`  manifest   ${result.a.manifest.padEnd(width)}  ${result.b.manifest}`);
  lines.push(`  config     ${result.a.config.padEnd(width)}  ${result.b.config}`);
  for (const note of result.notes) lines.push(`  note: ${note}`);
  if (result.reproduced) {
    lines.push('REPRODUCED: the same manifest, config and layers');
    return `${lines.join('\n')}\n`;
  }
  lines.push('DIFFERS');
  const diff = result.diff;
  if (diff !== undefined) {
    const fields = diff.config.filter((c) => !c.timeOnly && !c.path.startsWith('rootfs.diff_ids'));
    const times = diff.config.filter((c) => c.timeOnly);
    if (fields.length > 0 || times.length > 0) {
      lines.push('config:');
      for (const c of fields) lines.push(`  ${c.path}: ${shown(c.a)} → ${shown(c.b)}`);
      if (times.length > 0) lines.push(`  time only: ${times.map((c) => `${c.path} ${shown(c.a)} → ${shown(c.b)}`).join('; ')}`);
    }
    for (const layer of diff.layers) {
      const step = layer.step === undefined ? 'step unknown' : `${layer.step.file === undefined ? '' : `${layer.step.file}:${layer.step.line ?? '?'} `}${layer.step.instruction}`;
      lines.push(`layer ${layer.index} (${step}):`);
      for (const change of layer.entries) lines.push(changeText(change));
      if (layer.timeOnly.length > 0) lines.push(`  time only (${layer.timeOnly.length}): ${layer.timeOnly.map((t) => `/${t.path} ${t.a} → ${t.b}`).join(', ')}`);
      if (layer.entries.length === 0 && layer.timeOnly.length === 0) lines.push('  (same entries; the tar bytes differ, e.g. in entry order or headers)');
      if (layer.truncated) lines.push('  … more changes not shown');
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The reproducibility path of `stagecraft verify`: `target` is a directory (a CONTEXT, built twice)
 * or an image (rebuilt from its provenance, from `context` when given). Prints the verdict; throws
 * ExitStatus(1) when the builds differ.
 */
export async function verifyReproCommand(io: CliIo, command: Command, args: { readonly target: string; readonly context?: string | undefined }, flags: VerifyReproFlags): Promise<void> {
  const format = flags.format ?? 'text';
  if (!(FORMATS as readonly string[]).includes(format)) throw new StagecraftError('USAGE', `unknown --format "${format}"`, { hint: `use one of ${FORMATS.join(', ')}` });
  const progressMode = flags.progress ?? 'quiet';
  if (!(PROGRESS_MODES as readonly string[]).includes(progressMode)) throw new StagecraftError('USAGE', `unknown --progress "${progressMode}"`, { hint: `use one of ${PROGRESS_MODES.join(', ')}` });
  const buildPlatform = hostPlatform(process.arch);
  const contextMode = args.context === undefined && (await isDirectory(args.target));
  let subject;
  if (contextMode) {
    const buildArgs = parseBuildArgs(flags.buildArg ?? [], process.env);
    const dockerfile = readDockerfile(flags.file, args.target, () => '');
    const lock = flags.locked === true ? await readLock(lockPathFor(dockerfile.path, args.target)) : undefined;
    subject = {
      kind: 'context' as const,
      request: {
        contextDir: resolve(args.target),
        dockerfile,
        buildArgs,
        labels: new Map<string, string>(),
        target: flags.target,
        platform: platformOption(flags.platform) ?? buildPlatform,
        buildPlatform,
        sourceDateEpoch: sourceDateEpoch(buildArgs),
        ...(lock === undefined ? {} : { pins: { lock } }),
      },
    };
  } else {
    if (flags.file !== undefined || flags.buildArg !== undefined || flags.target !== undefined) {
      throw new StagecraftError('USAGE', 'verify IMAGE takes its Dockerfile, build args and target from the image\'s provenance', { hint: 'drop -f, --build-arg and --target, or give a context directory to build twice' });
    }
    if (args.context !== undefined && !(await isDirectory(args.context))) throw new StagecraftError('FILE_NOT_FOUND', `context ${args.context} is not a directory`, { hint: 'give the directory the image was built from' });
    subject = { kind: 'image' as const, ref: args.target, contextDir: args.context, buildPlatform };
  }
  const progress = progressSink(progressMode, io.stderr);
  const result = await withEngine(command, async (engine, signal) => {
    try {
      return await engine.verify({ subject, keepDir: flags.keepDir, events: progress.sink, toolVersion: packageVersion(), signal });
    } finally {
      progress.finish();
    }
  });
  io.stdout(format === 'json' ? `${JSON.stringify(result, null, 2)}\n` : verifyText(result));
  if (!result.reproduced) throw new ExitStatus(1);
}
