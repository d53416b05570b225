/** `build --call outline|targets`: what a Dockerfile asks of its caller, in buildx's text layout and JSON. */
import assert from 'node:assert/strict';
import { parsePlatform } from '../../../src/core/index.js';
import { describe, it } from 'node:test';
import { ShellLex, listTargets, loadDockerfile, outlineDockerfile } from '../../../src/dockerfile/index.js';
import { formatOutline, formatTargets, outlineJson, parseCallFlag, tabulate, targetsJson } from '../../../src/cli/call.js';
import { StagecraftError } from '../../../src/core/index.js';

const AMD64 = parsePlatform('linux/amd64');
const DOCKERFILE = `# GO_VERSION the Go toolchain
ARG GO_VERSION=1.22
ARG NEVER_USED=x

# base prepares the toolchain
FROM golang:\${GO_VERSION} AS base
# TAGS build tags
ARG TAGS="netgo osusergo"
ARG DECLARED_ONLY
ARG DERIVED=\${TAGS}-x
RUN --mount=type=secret,id=npmrc,required=true --mount=type=ssh go build -tags "$TAGS $DERIVED" ./...

FROM base AS test
RUN --mount=type=secret,target=/run/secrets/token go test ./...

FROM scratch
# not a description: it does not start with the stage name
COPY --from=base /out /
`;

function outline(target?: string, buildArgs: Record<string, string> = {}): ReturnType<typeof outlineDockerfile> {
  const parsed = loadDockerfile(DOCKERFILE, 'Dockerfile');
  return outlineDockerfile(parsed, { buildArgs: new Map(Object.entries(buildArgs)), target, buildPlatform: AMD64, targetPlatform: AMD64, lex: new ShellLex({ escapeToken: parsed.escapeToken }) });
}

describe('--call targets', () => {
  it('lists every stage with the comment that starts with its name; the last is the default', () => {
    const targets = listTargets(loadDockerfile(DOCKERFILE, 'Dockerfile'));
    assert.deepEqual(targets.map((t) => [t.name, t.default, t.description]), [['base', false, 'prepares the toolchain'], ['test', false, undefined], ['', true, undefined]]);
    assert.equal(formatTargets(targets), 'TARGET    DESCRIPTION\nbase      prepares the toolchain\ntest      \n(default) \n');
    const json = JSON.parse(targetsJson(targets, DOCKERFILE)) as { targets: { name?: string; default?: boolean; base?: string; location: unknown }[]; sources: string[] };
    assert.deepEqual(json.targets[0], { name: 'base', description: 'prepares the toolchain', base: 'golang:${GO_VERSION}', location: { ranges: [{ start: { line: 6 }, end: { line: 6 } }] } });
    assert.deepEqual(json.targets[2]?.default, true);
    assert.equal(Buffer.from(json.sources[0] ?? '', 'base64').toString(), DOCKERFILE);
  });
});

describe('--call outline', () => {
  it('lists the args the target uses (values as the shell gives them, --build-arg wins), its secrets and ssh ids', () => {
    const base = outline('base', { GO_VERSION: '1.23' });
    assert.equal(base.name, 'base');
    assert.equal(base.description, 'prepares the toolchain');
    assert.deepEqual(base.args.map((a) => [a.name, a.value, a.description]), [['GO_VERSION', '1.23', 'the Go toolchain'], ['TAGS', 'netgo osusergo', 'build tags'], ['DERIVED', 'netgo osusergo-x', undefined]]);
    assert.deepEqual(base.secrets, [{ name: 'npmrc', required: true, location: { line: 11 } }]);
    assert.deepEqual(base.ssh, [{ name: 'default', required: false, location: { line: 11 } }]);
    assert.equal(formatOutline(base), [
      'TARGET:      base',
      'DESCRIPTION: prepares the toolchain',
      '',
      'BUILD ARG    VALUE              DESCRIPTION',
      'GO_VERSION   1.23               the Go toolchain',
      'TAGS         netgo osusergo     build tags',
      'DERIVED      netgo osusergo-x   ',
      '',
      'SECRET   REQUIRED',
      'npmrc    true',
      '',
      'SSH       REQUIRED',
      'default   ',
      '',
      '',
    ].join('\n'));
  });

  it('follows the stages the target needs; a secret without id is named after its target file', () => {
    const test = outline('test');
    assert.deepEqual(test.secrets.map((s) => [s.name, s.required]), [['npmrc', true], ['token', false]]);
    const last = outline();
    assert.equal(last.name, '');
    assert.ok(!formatOutline(last).includes('TARGET:'), 'an unnamed target without description has no TARGET block');
    assert.deepEqual(last.args.map((a) => a.name), ['GO_VERSION', 'TAGS', 'DERIVED']);
    const json = JSON.parse(outlineJson(last, DOCKERFILE)) as { name?: string; args: { name: string; value?: string }[]; secrets: { name: string; required?: boolean }[] };
    assert.equal(json.name, undefined);
    assert.deepEqual(json.args[0], { name: 'GO_VERSION', description: 'the Go toolchain', value: '1.22', location: { ranges: [{ start: { line: 2 }, end: { line: 2 } }] } });
    assert.deepEqual(json.secrets[0], { name: 'npmrc', required: true, location: { ranges: [{ start: { line: 11 }, end: { line: 11 } }] } });
  });
});

describe('--call', () => {
  const usage = (pattern: RegExp) => (e: unknown): boolean => e instanceof StagecraftError && e.code === 'USAGE' && pattern.test(e.message);
  it('takes build (the default), outline, targets, check (alias lint), format=json and ignorestatus; refuses unknown functions', () => {
    assert.deepEqual(parseCallFlag(undefined), { name: 'build', format: 'text', ignoreStatus: false });
    assert.deepEqual(parseCallFlag('outline'), { name: 'outline', format: 'text', ignoreStatus: false });
    assert.deepEqual(parseCallFlag('targets,format=json'), { name: 'targets', format: 'json', ignoreStatus: false });
    assert.deepEqual(parseCallFlag('check'), { name: 'check', format: 'text', ignoreStatus: false });
    assert.deepEqual(parseCallFlag('lint,ignorestatus=true'), { name: 'check', format: 'text', ignoreStatus: true });
    assert.throws(() => parseCallFlag('check,ignorestatus=maybe'), usage(/ignorestatus must be true or false/));
    assert.throws(() => parseCallFlag('outlines'), usage(/unknown --call function "outlines"/));
    assert.throws(() => parseCallFlag('outline,targets'), usage(/more than one function/));
    assert.throws(() => parseCallFlag('outline,format=yaml'), usage(/unknown format "yaml"/));
  });

  it('tabulates as Go text/tabwriter: terminated cells padded to the widest plus padding, the last cell as is', () => {
    assert.equal(tabulate([['A', 'xyz'], ['long-name', '']], 1), 'A         xyz\nlong-name \n');
    assert.equal(tabulate([['a', 'b', 'c'], ['dd', 'e', 'f']], 3), 'a    b   c\ndd   e   f\n');
  });
});
