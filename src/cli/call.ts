/**
 * `build --call outline|targets|check|build[,format=json][,ignorestatus=true]` (buildx
 * util/buildflags/callfunc.go): instead of building, print what the Dockerfile asks of its caller, or
 * its build-check findings, in buildx's text layout (BuildKit's subrequests printers, Go
 * text/tabwriter) or as JSON.
 */
import { StagecraftError } from '../core/index.js';
import type { Outline, TargetEntry } from '../dockerfile/index.js';
import { splitFlagFields } from '../util/csv-flags.js';

export interface CallFunction {
  readonly name: 'build' | 'outline' | 'targets' | 'check';
  readonly format: 'text' | 'json';
  /** `ignorestatus=true`: exit 0 even when the function reports a failure (checks with warnings). */
  readonly ignoreStatus: boolean;
}

const IMPLEMENTED = ['build', 'check', 'outline', 'targets'];

/** `--call NAME[,format=json|text][,ignorestatus=true]`; `lint` is another name for `check`, as in buildx. */
export function parseCallFlag(value: string | undefined): CallFunction {
  if (value === undefined || value === '') return { name: 'build', format: 'text', ignoreStatus: false };
  let name: string | undefined;
  let format: 'text' | 'json' = 'text';
  let ignoreStatus = false;
  for (const field of splitFlagFields(value, '--call')) {
    const eq = field.indexOf('=');
    if (eq === -1) {
      if (name !== undefined) throw new StagecraftError('USAGE', `invalid --call "${value}": more than one function`, { hint: 'write --call outline, --call targets or --call build' });
      name = field;
      continue;
    }
    const key = field.slice(0, eq);
    const v = field.slice(eq + 1);
    if (key === 'format') {
      if (v !== 'json' && v !== 'text' && v !== '') throw new StagecraftError('USAGE', `invalid --call "${value}": unknown format "${v}"`, { hint: 'format is json or text' });
      format = v === 'json' ? 'json' : 'text';
    } else if (key === 'ignorestatus') {
      if (!['true', 'false', ''].includes(v)) throw new StagecraftError('USAGE', `invalid --call "${value}": ignorestatus must be true or false`, { hint: 'write --call check,ignorestatus=true' });
      ignoreStatus = v !== 'false';
    } else {
      throw new StagecraftError('USAGE', `invalid --call field "${field}"`, { hint: 'write --call outline or --call targets,format=json' });
    }
  }
  const fn = name === 'lint' ? 'check' : name ?? 'build';
  if (fn !== 'build' && fn !== 'outline' && fn !== 'targets' && fn !== 'check') {
    throw new StagecraftError('USAGE', `unknown --call function "${fn}"`, { hint: `--call takes ${IMPLEMENTED.join(', ')}` });
  }
  return { name: fn, format, ignoreStatus };
}

/**
 * Go's text/tabwriter with minwidth 0, tabwidth 0, padding `padding`, padchar ' ' and no flags,
 * for a block of lines with the same number of cells: every tab-terminated cell is padded to its
 * column's widest cell plus `padding`; the last cell of a line is written as is.
 */
export function tabulate(rows: readonly (readonly string[])[], padding: number): string {
  const widths: number[] = [];
  for (const row of rows) row.slice(0, -1).forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, [...cell].length); });
  return rows.map((row) => row.map((cell, i) => (i < row.length - 1 ? cell.padEnd((widths[i] ?? 0) + padding + cell.length - [...cell].length) : cell)).join('') + '\n').join('');
}

/** BuildKit's PrintTargets. */
export function formatTargets(targets: readonly TargetEntry[]): string {
  const rows = targets.map((t) => [t.name === '' && t.default ? '(default)' : t.default ? `${t.name} (default)` : t.name, t.description ?? '']);
  return tabulate([['TARGET', 'DESCRIPTION'], ...rows], 1);
}

/** BuildKit's PrintOutline. */
export function formatOutline(outline: Outline): string {
  let out = '';
  if (outline.name !== '' || outline.description !== undefined) {
    const rows = [['TARGET:', outline.name === '' ? '(default)' : outline.name]];
    if (outline.description !== undefined) rows.push(['DESCRIPTION:', outline.description]);
    out += `${tabulate(rows, 1)}\n`;
  }
  if (outline.args.length > 0) out += `${tabulate([['BUILD ARG', 'VALUE', 'DESCRIPTION'], ...outline.args.map((a) => [a.name, a.value ?? '', a.description ?? ''])], 3)}\n`;
  if (outline.secrets.length > 0) out += `${tabulate([['SECRET', 'REQUIRED'], ...outline.secrets.map((s) => [s.name, s.required ? 'true' : ''])], 3)}\n`;
  if (outline.ssh.length > 0) out += `${tabulate([['SSH', 'REQUIRED'], ...outline.ssh.map((s) => [s.name, s.required ? 'true' : ''])], 3)}\n`;
  return out;
}

function location(line: number): { ranges: { start: { line: number }; end: { line: number } }[] } {
  return { ranges: [{ start: { line }, end: { line } }] };
}

/** The JSON BuildKit returns (`format=json`), with the Dockerfile as its one source (base64, as Go encodes []byte). */
export function outlineJson(outline: Outline, dockerfile: string): string {
  const value = {
    ...(outline.name !== '' ? { name: outline.name } : {}),
    ...(outline.description !== undefined ? { description: outline.description } : {}),
    ...(outline.args.length > 0 ? { args: outline.args.map((a) => ({ name: a.name, ...(a.description !== undefined ? { description: a.description } : {}), ...(a.value !== undefined && a.value !== '' ? { value: a.value } : {}), location: location(a.location.line) })) } : {}),
    ...(outline.secrets.length > 0 ? { secrets: outline.secrets.map((s) => ({ name: s.name, ...(s.required ? { required: true } : {}), location: location(s.location.line) })) } : {}),
    ...(outline.ssh.length > 0 ? { ssh: outline.ssh.map((s) => ({ name: s.name, ...(s.required ? { required: true } : {}), location: location(s.location.line) })) } : {}),
    sources: [Buffer.from(dockerfile).toString('base64')],
  };
  return `${JSON.stringify(value, null, 2)}\n`;
}

export function targetsJson(targets: readonly TargetEntry[], dockerfile: string): string {
  const value = {
    targets: targets.map((t) => ({
      ...(t.name !== '' ? { name: t.name } : {}),
      ...(t.default ? { default: true } : {}),
      ...(t.description !== undefined ? { description: t.description } : {}),
      ...(t.base !== '' ? { base: t.base } : {}),
      ...(t.platform !== undefined ? { platform: t.platform } : {}),
      location: location(t.location.line),
    })),
    sources: [Buffer.from(dockerfile).toString('base64')],
  };
  return `${JSON.stringify(value, null, 2)}\n`;
}
