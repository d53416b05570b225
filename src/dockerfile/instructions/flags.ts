/**
 * Instruction flags (`--from=x`, `--link`, `--mount=…` repeated), parsed with BuildKit's rules: every
 * flag comes before the arguments, `--` ends them, booleans accept `--x`, `--x=true|false`, string
 * flags need a value, only list flags may repeat, and unknown flags are errors with a suggestion.
 */
import { closest } from '../../core/index.js';

export type FlagKind = 'bool' | 'string' | 'strings';

export interface FlagSpec {
  readonly [name: string]: FlagKind;
}

export type FlagValues<S extends FlagSpec> = {
  readonly [K in keyof S]: S[K] extends 'bool' ? boolean | undefined : S[K] extends 'string' ? string | undefined : readonly string[];
};

/** Thrown by `parseFlags`; the caller adds the instruction's location. */
export class FlagError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
  }
}

export function parseFlags<S extends FlagSpec>(raw: readonly string[], spec: S): FlagValues<S> {
  const values: Record<string, boolean | string | string[] | undefined> = {};
  for (const [name, kind] of Object.entries(spec)) values[name] = kind === 'strings' ? [] : undefined;
  const seen = new Set<string>();
  for (const arg of raw) {
    if (arg === '--') break;
    if (!arg.startsWith('--')) throw new FlagError(`arg should start with -- : ${arg}`);
    const eq = arg.indexOf('=');
    const flagName = eq === -1 ? arg : arg.slice(0, eq);
    const name = flagName.slice(2);
    const hasValue = eq !== -1;
    const value = hasValue ? arg.slice(eq + 1) : '';
    const kind = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (kind === undefined) {
      const known = Object.keys(spec);
      const guess = closest(name, known);
      throw new FlagError(
        `unknown flag: ${flagName}`,
        guess !== undefined ? `did you mean --${guess}?` : known.length > 0 ? `this instruction accepts ${known.map((k) => `--${k}`).join(', ')}` : 'this instruction takes no flags',
      );
    }
    if (seen.has(name) && kind !== 'strings') throw new FlagError(`duplicate flag specified: ${flagName}`);
    seen.add(name);
    switch (kind) {
      case 'bool': {
        if (hasValue && value === '') throw new FlagError(`missing a value on flag: ${flagName}`);
        const lower = value.toLowerCase();
        if (lower === 'true' || lower === '') values[name] = true;
        else if (lower === 'false') values[name] = false;
        else throw new FlagError(`expecting boolean value for flag ${flagName}, not: ${value}`);
        break;
      }
      case 'string':
        if (!hasValue) throw new FlagError(`missing a value on flag: ${flagName}`, `write ${flagName}=<value>`);
        values[name] = value;
        break;
      case 'strings': {
        if (!hasValue) throw new FlagError(`missing a value on flag: ${flagName}`, `write ${flagName}=<value>`);
        const list = values[name];
        if (Array.isArray(list)) list.push(value);
        break;
      }
    }
  }
  return values as FlagValues<S>;
}
