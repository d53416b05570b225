/**
 * `--chmod` values. An octal value sets the permission bits (and setuid/setgid/sticky) of every copied
 * file and directory. A symbolic value (`u+x`, `go-w`, `a=rX`, `g=u`, comma-separated clauses) is
 * applied to each entry's own mode with chmod(1)/BSD setmode semantics and a zero umask, as BuildKit
 * does through dchapes-mode:
 * - no `who` means all classes; `=` clears the named classes (setuid/setgid included) before setting;
 * - `X` (only with `+`) adds execute where the entry is a directory or already executable by anyone
 *   (judged on the mode before the whole value is applied);
 * - `s` touches setuid/setgid unless only `o` is named, `t` the sticky bit unless only `o` is named;
 * - `u`, `g`, `o` after an operator copy that class's current bits (`g=u`).
 */
import { StagecraftError } from '../../core/index.js';

const SUID = 0o4000;
const SGID = 0o2000;
const STICKY = 0o1000;
const STANDARD = 0o6777; // setuid | setgid | rwx for all classes (sticky excluded)

type Command =
  | { readonly kind: '+' | '-'; readonly bits: number }
  | { readonly kind: 'X'; readonly bits: number }
  | { readonly kind: 'copy'; readonly from: 'u' | 'g' | 'o'; readonly op: '+' | '-' | '='; readonly classes: number; readonly mask: number };

export type ModeSpec =
  | { readonly kind: 'octal'; readonly mode: number }
  | { readonly kind: 'symbolic'; readonly text: string; readonly commands: readonly Command[] };

function invalid(value: string): StagecraftError {
  return new StagecraftError('FILE_OPERATION', `invalid chmod parameter: '${value}'`, {
    hint: 'use an octal mode such as 0755 or a symbolic one such as u+x,go-w',
  });
}

const CLASS_U = 4;
const CLASS_G = 2;
const CLASS_O = 1;

/** Parses a `--chmod` value. */
export function parseChmod(value: string): ModeSpec {
  if (value === '') throw invalid(value);
  if (/^[0-9]/.test(value)) {
    if (!/^[0-7]+$/.test(value)) throw invalid(value);
    const mode = Number.parseInt(value, 8);
    if (mode > 0o7777) {
      throw new StagecraftError('FILE_OPERATION', `invalid chmod parameter: '${value}'. it should be octal string and between 0 and 07777`, {
        hint: 'use an octal mode such as 0755',
      });
    }
    return { kind: 'octal', mode };
  }
  const commands: Command[] = [];
  const add = (op: '+' | '-' | '=' | 'X', who: number, perm: number): void => {
    if (op === '=') {
      commands.push({ kind: '-', bits: who !== 0 ? who : STANDARD });
      commands.push({ kind: '+', bits: who !== 0 ? who & perm : perm });
    } else if (op === 'X') {
      commands.push({ kind: 'X', bits: who !== 0 ? who & perm : perm });
    } else {
      commands.push({ kind: op, bits: who !== 0 ? who & perm : perm });
    }
  };
  const addCopy = (from: 'u' | 'g' | 'o', who: number, op: '+' | '-' | '='): void => {
    let classes = CLASS_U | CLASS_G | CLASS_O;
    let mask = 0o7777;
    if (who !== 0) {
      classes = (who & 0o400 ? CLASS_U : 0) | (who & 0o040 ? CLASS_G : 0) | (who & 0o004 ? CLASS_O : 0);
      mask = 0xffff;
    }
    commands.push({ kind: 'copy', from, op, classes, mask });
  };

  let i = 0;
  const at = (): string | undefined => value[i];
  for (;;) {
    let who = 0;
    for (;;) {
      const ch = at();
      if (ch === undefined) throw invalid(value);
      if (ch === 'a') who |= STANDARD;
      else if (ch === 'u') who |= SUID | 0o700;
      else if (ch === 'g') who |= SGID | 0o070;
      else if (ch === 'o') who |= 0o007;
      else break;
      i++;
    }
    // One or more `op perms` groups share the same `who` (e.g. `go=u-w`).
    for (;;) {
      const op = at();
      i++;
      if (op !== '+' && op !== '-' && op !== '=') throw invalid(value);
      let equalDone = false;
      who &= ~STICKY;
      let perm = 0;
      let permX = 0;
      for (;;) {
        const ch = at();
        if (ch === 'r') perm |= 0o444;
        else if (ch === 'w') perm |= 0o222;
        else if (ch === 'x') perm |= 0o111;
        else if (ch === 's') {
          if (who === 0 || (who & ~0o007) !== 0) perm |= SUID | SGID;
        } else if (ch === 't') {
          if (who === 0 || (who & ~0o007) !== 0) {
            who |= STICKY;
            perm |= STICKY;
          }
        } else if (ch === 'X') {
          if (op === '+') permX = 0o111;
        } else if (ch === 'u' || ch === 'g' || ch === 'o') {
          if (perm !== 0) {
            add(op, who, perm);
            perm = 0;
          }
          if (op === '=') equalDone = true;
          if (permX !== 0) {
            add('X', who, permX);
            permX = 0;
          }
          addCopy(ch, who, op);
        } else {
          if (perm !== 0 || (op === '=' && !equalDone)) {
            if (op === '=') equalDone = true;
            add(op, who, perm);
          }
          if (permX !== 0) add('X', who, permX);
          break;
        }
        i++;
      }
      if (i >= value.length || at() === ',') break;
    }
    if (i >= value.length) break;
    i++; // ','
  }
  return { kind: 'symbolic', text: value, commands };
}

/** The permission bits (0o7777) an entry with `mode` gets under `spec`. */
export function applyMode(spec: ModeSpec, mode: number, isDirectory: boolean): number {
  if (spec.kind === 'octal') return spec.mode & 0o7777;
  const original = mode & 0o7777;
  let result = original;
  for (const command of spec.commands) {
    switch (command.kind) {
      case '+':
        result |= command.bits;
        break;
      case '-':
        result &= ~command.bits;
        break;
      case 'X':
        if ((original & 0o111) !== 0 || isDirectory) result |= command.bits;
        break;
      case 'copy': {
        const shift = command.from === 'u' ? 6 : command.from === 'g' ? 3 : 0;
        const value = (result >> shift) & 0o7;
        const targets: Array<[number, number]> = [[CLASS_U, 6], [CLASS_G, 3], [CLASS_O, 0]];
        for (const [cls, at] of targets) {
          if ((command.classes & cls) === 0) continue;
          if (command.op === '=') result &= ~((0o7 << at) & command.mask);
          if (command.op === '-') result &= ~((value << at) & command.mask);
          else result |= (value << at) & command.mask;
        }
        break;
      }
    }
  }
  return result & 0o7777;
}
