/**
 * Mutated Dockerfiles for the robustness tests (issue 13, fault 14): seeds are examples/hello and every
 * conformance case; mutations are line edits (delete, duplicate, swap), inserted text (Dockerfile syntax,
 * random unicode, control characters), truncation, flag flips and huge repeats.
 */
import { readFileSync, readdirSync } from 'node:fs';
import fc from 'fast-check';
import { StagecraftError } from '../../../src/core/index.js';
import { ShellLex, convertDockerfile, loadDockerfile, parseTriggerCommands } from '../../../src/dockerfile/index.js';
import { AMD64, baseImage } from './convert-helpers.js';

const CASES = new URL('../../conformance/cases/', import.meta.url);
export const SEEDS: readonly string[] = [
  readFileSync(new URL('../../../examples/hello/Dockerfile', import.meta.url), 'utf8'),
  ...readdirSync(CASES).sort().map((name) => readFileSync(new URL(`${name}/Dockerfile`, CASES), 'utf8')),
];

const SNIPPETS = [
  'FROM ', 'FROM scratch AS x\n', 'FROM x\n', 'AS ', ' AS b', '--from=', '--from=0 ', '--from=x ', '--from=99 ', '--chown=', '--chmod=',
  '--chmod=9999 ', '--chmod=u+x ', '--link ', '--parents ', '--exclude=', '--mount=', '--mount=type=cache,target=', '--mount=type=bind,source=..,target=/m ',
  '--mount=type=secret,id=', '--mount=type=ssh ', '--mount=type=tmpfs,size=', '--network=', '--security=insecure ', '--platform=', '--platform=$BUILDPLATFORM ',
  '--checksum=', '--keep-git-dir ', '--interval=', '--start-period=-1s ', '--retries=', 'RUN ', 'COPY ', 'ADD ', 'ARG ', 'ENV ', 'LABEL ', 'WORKDIR ', 'USER ',
  'EXPOSE ', 'VOLUME ', 'STOPSIGNAL ', 'HEALTHCHECK ', 'SHELL ', 'ONBUILD ', 'CMD ', 'ENTRYPOINT ', 'MAINTAINER ', '<<EOF\n', '<<-"E"\n', 'EOF\n', '\\\n', '`',
  '${', '}', '${A:-', '${A:?', '${A//*/', '${A#', '$$', '$', '"', "'", '[', ']', '["a", ', '=', ',', '#', '# escape=`\n', '# syntax=x\n', '/', '..', '../..', '*',
  '**', '?', '\n', '\r\n', '\t', ' ', '\u0000', '\u0085', '\u00a0', '\u2028', '\ufeff', '\ud800', '😀', 'é', '-1', '0', '99999999999999999999', 'NaN', 'SIGKILL',
  'http://x/y', 'https://x/y.git#main', 'git@x:y', 'a.tar.gz', '/dev/pipes/x',
];

type Mutation =
  | { kind: 'delete' | 'duplicate'; line: number }
  | { kind: 'swap'; a: number; b: number }
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'truncate'; at: number }
  | { kind: 'replace'; at: number; length: number; text: string }
  | { kind: 'repeat'; at: number; length: number; times: number };

const text = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...SNIPPETS) },
  { weight: 2, arbitrary: fc.array(fc.constantFrom(...SNIPPETS), { minLength: 1, maxLength: 5 }).map((parts) => parts.join('')) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)), maxLength: 4 }) },
);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constantFrom<'delete' | 'duplicate'>('delete', 'duplicate'), line: fc.nat() }),
  fc.record({ kind: fc.constant<'swap'>('swap'), a: fc.nat(), b: fc.nat() }),
  fc.record({ kind: fc.constant<'insert'>('insert'), at: fc.nat(), text }),
  fc.record({ kind: fc.constant<'truncate'>('truncate'), at: fc.nat() }),
  fc.record({ kind: fc.constant<'replace'>('replace'), at: fc.nat(), length: fc.nat({ max: 12 }), text }),
  fc.record({ kind: fc.constant<'repeat'>('repeat'), at: fc.nat(), length: fc.integer({ min: 1, max: 12 }), times: fc.constantFrom(2, 10, 100, 2000) }),
);

export function mutate(seed: string, mutations: readonly Mutation[]): string {
  let out = seed;
  for (const m of mutations) {
    const lines = out.split('\n');
    const pick = (n: number): number => n % Math.max(1, lines.length);
    const at = (n: number): number => n % (out.length + 1);
    switch (m.kind) {
      case 'delete':
        lines.splice(pick(m.line), 1);
        out = lines.join('\n');
        break;
      case 'duplicate':
        lines.splice(pick(m.line), 0, lines[pick(m.line)] ?? '');
        out = lines.join('\n');
        break;
      case 'swap': {
        const a = pick(m.a);
        const b = pick(m.b);
        [lines[a], lines[b]] = [lines[b] ?? '', lines[a] ?? ''];
        out = lines.join('\n');
        break;
      }
      case 'insert':
        out = out.slice(0, at(m.at)) + m.text + out.slice(at(m.at));
        break;
      case 'truncate':
        out = out.slice(0, at(m.at));
        break;
      case 'replace':
        out = out.slice(0, at(m.at)) + m.text + out.slice(at(m.at) + m.length);
        break;
      case 'repeat': {
        const start = at(m.at);
        out = out.slice(0, start) + out.slice(start, start + m.length).repeat(m.times) + out.slice(start);
        break;
      }
    }
  }
  return out;
}

/** Seeded mutants of `seeds`: one to four mutations each. */
export function mutatedDockerfileFrom(seeds: readonly string[]): fc.Arbitrary<string> {
  return fc.tuple(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([seed, mutations]) => mutate(seed, mutations));
}

export const mutatedDockerfile = mutatedDockerfileFrom(SEEDS);

export const TRIGGERS = ['RUN echo onbuild', 'COPY --from=0 /a /b', 'ARG X=${Y:-1}', 'WORKDIR $X', 'ONBUILD RUN x', 'FROM x', '`', '${', 'RUN <<EOF\nx\nEOF'];

/** The whole frontend on `text`; returns the error it ended in, if any (anything but a StagecraftError fails). */
export async function frontend(text: string, onBuild: readonly string[] = []): Promise<StagecraftError | undefined> {
  try {
    const parsed = loadDockerfile(text, 'Dockerfile');
    await convertDockerfile(parsed, {
      lex: new ShellLex({ escapeToken: parsed.escapeToken }),
      buildArgs: new Map([['BASE', 'busybox']]),
      buildPlatform: AMD64,
      targetPlatform: AMD64,
      resolveImage: (ref) => Promise.resolve({ ref: `${ref}@sha256:${'0'.repeat(64)}`, image: baseImage({}, onBuild.length > 0 ? [...onBuild] : undefined) }),
      parseTriggers: (trigger) => parseTriggerCommands(trigger, 'ONBUILD trigger'),
    });
    return undefined;
  } catch (error) {
    if (!(error instanceof StagecraftError)) throw error;
    return error;
  }
}

