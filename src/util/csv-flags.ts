/**
 * `key=value,…` flag values (`-o`, `--cache-to`, `--cache-from`, `--secret`, …) with the quoting rules
 * docker buildx applies to them: the value is one line of CSV as Go's encoding/csv reads it (buildx
 * parses with tonistiigi/go-csvvalue, which follows encoding/csv with its defaults):
 * - fields are separated by `,`; nothing is trimmed;
 * - a field that starts with `"` is quoted: it runs to the next lone `"`, which must be followed by
 *   `,` or the end; inside it `""` is one `"` and `,` is plain text. So `type=local,"dest=/a,b"` has
 *   the fields `type=local` and `dest=/a,b`;
 * - a `"` anywhere in an unquoted field is an error (`dest="/a,b"` is refused, as by buildx);
 * - one trailing newline (`\n` or `\r\n`) is dropped.
 * A field is then `key=value`, split at its first `=`; keys are case-insensitive.
 */
import { StagecraftError } from '../core/index.js';

function malformed(flag: string, value: string, column: number, what: string): StagecraftError {
  return new StagecraftError('USAGE', `${flag} "${value}": ${what} (column ${column})`, {
    hint: `quote a whole field that holds a comma or a quote, e.g. ${flag} 'type=local,"dest=/a,b"'; write "" for a quote inside it`,
  });
}

/**
 * The fields of `value`. Throws a USAGE error naming `flag` when the quoting is malformed (a bare
 * quote in an unquoted field, an unterminated quoted field, or text after a closing quote).
 * The empty string has no fields.
 */
export function splitFlagFields(value: string, flag = 'flag'): string[] {
  let line = value;
  if (line.endsWith('\r\n')) line = line.slice(0, -2);
  else if (line.endsWith('\n')) line = line.slice(0, -1);
  if (line === '') return [];
  const fields: string[] = [];
  let pos = 0;
  for (;;) {
    if (line[pos] !== '"') {
      const comma = line.indexOf(',', pos);
      const end = comma === -1 ? line.length : comma;
      const field = line.slice(pos, end);
      const quote = field.indexOf('"');
      if (quote !== -1) throw malformed(flag, value, pos + quote + 1, 'a quote inside an unquoted field');
      fields.push(field);
      if (comma === -1) return fields;
      pos = comma + 1;
      continue;
    }
    // A quoted field: runs to the next quote that is not doubled.
    const start = pos;
    pos += 1;
    let field = '';
    for (;;) {
      const quote = line.indexOf('"', pos);
      if (quote === -1) throw malformed(flag, value, start + 1, 'a quoted field is not closed');
      field += line.slice(pos, quote);
      pos = quote + 1;
      const next = line[pos];
      if (next === '"') {
        field += '"';
        pos += 1;
        continue;
      }
      if (next === undefined) {
        fields.push(field);
        return fields;
      }
      if (next === ',') {
        fields.push(field);
        pos += 1;
        break;
      }
      throw malformed(flag, value, quote + 1, 'text after the closing quote of a field');
    }
  }
}

export interface KeyValueField {
  /** Lower-case, surrounding spaces trimmed. */
  readonly key: string;
  readonly value: string;
}

/** The fields of `value` as key=value pairs, in order; a field without `=` is a USAGE error naming `flag`. */
export function keyValueFields(value: string, flag: string): KeyValueField[] {
  return splitFlagFields(value, flag).map((field) => {
    const eq = field.indexOf('=');
    if (eq === -1) throw new StagecraftError('USAGE', `${flag} "${value}": "${field}" is not key=value`, { hint: `every field of ${flag} is key=value, e.g. ${flag} type=…,key=value` });
    return { key: field.slice(0, eq).trim().toLowerCase(), value: field.slice(eq + 1) };
  });
}

/** Key → every value given for it, in order (a repeated key keeps them all). */
export function parseKeyValueFlag(value: string, flag: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const field of keyValueFields(value, flag)) out.set(field.key, [...(out.get(field.key) ?? []), field.value]);
  return out;
}

/** Key → value; a repeated key: the last value wins, as in buildx. */
export function parseKeyValueFlagLast(value: string, flag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const field of keyValueFields(value, flag)) out.set(field.key, field.value);
  return out;
}
