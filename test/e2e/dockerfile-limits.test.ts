/**
 * Issue 13, fault 9, through the built CLI with a 256 MiB heap: hostile Dockerfiles (an ENV chain that
 * multiplies its value by 10 per line took the process to 4.2 GB and SIGABRT; a Dockerfile of huge
 * lines reached 1.6 GB) exit with a Dockerfile error (status 3) naming the line, quickly, never with a
 * signal or an internal error.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CLI_PATH } from '../helpers/cli.js';

const work = mkdtempSync(join(tmpdir(), 'stagecraft-limits-'));
after(() => rmSync(work, { recursive: true, force: true }));

function build(name: string, dockerfile: string | ((dir: string) => void)): { status: number | null; signal: string | null; stderr: string; ms: number } {
  const dir = join(work, name);
  mkdirSync(dir);
  if (typeof dockerfile === 'string') writeFileSync(join(dir, 'Dockerfile'), dockerfile);
  else dockerfile(dir);
  const started = Date.now();
  const result = spawnSync(process.execPath, ['--max-old-space-size=256', CLI_PATH, '--root', join(work, 'root'), 'build', '--progress=plain', dir], {
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 16 << 20,
  });
  return { status: result.status, signal: result.signal, stderr: result.stderr, ms: Date.now() - started };
}

function assertDockerfileError(run: ReturnType<typeof build>, message: RegExp): void {
  assert.equal(run.signal, null, `killed by ${run.signal ?? ''}: ${run.stderr.slice(-2000)}`);
  assert.equal(run.status, 3, run.stderr.slice(-2000));
  assert.match(run.stderr, message);
  assert.ok(run.ms < 30_000, `took ${run.ms} ms`);
}

describe('hostile Dockerfiles end in a Dockerfile error with bounded memory (256 MiB heap)', { timeout: 240_000 }, () => {
  it('ENV a=$b$b$b… chains (x10 per line)', () => {
    const lines = ['FROM scratch', 'ENV v0=xxxxxxxxxx'];
    for (let i = 1; i <= 20; i++) lines.push(`ENV v${i}=${`$v${i - 1}`.repeat(10)}`);
    assertDockerfileError(build('env-chain', lines.join('\n')), /Dockerfile:7: the stage's environment \(ENV and ARG values\) grows to \d+ characters, more than the limit of 1 Mi characters\n(.*\n)*> +7 \| ENV v5=/);
  });

  it('one instruction expanding a value thousands of times', () => {
    const run = build('one-line', ['FROM scratch', `ARG a=${'x'.repeat(60_000)}`, `LABEL b=${'$a'.repeat(30_000)}`].join('\n'));
    assertDockerfileError(run, /variables expand to more than \d+ characters/);
    assert.match(run.stderr, /> +3 \| LABEL b=/);
  });

  it('huge lines (a 100 MB Dockerfile of 1 MB lines)', () => {
    const line = `RUN echo ${'a'.repeat(1 << 20)}\n`;
    const run = build('huge-lines', (dir) => writeFileSync(join(dir, 'Dockerfile'), `FROM scratch\n${line.repeat(100)}`));
    assertDockerfileError(run, /the Dockerfile is larger than the limit of 16 MiB/);
    const one = build('one-huge-line', `FROM scratch\n${line}`);
    assertDockerfileError(one, /Dockerfile:2: dockerfile line greater than max allowed size of 65535/);
  });

  it('a Dockerfile that is a symlink to /dev/zero', () => {
    assertDockerfileError(build('dev-zero', (dir) => symlinkSync('/dev/zero', join(dir, 'Dockerfile'))), /the Dockerfile is larger than the limit of 16 MiB/);
  });

  it('millions of instructions, and thousands of stages', () => {
    assertDockerfileError(build('instructions', `FROM scratch\n${'RUN x\n'.repeat(3_000_000)}`), /the Dockerfile is larger than the limit of 16 MiB/);
    assertDockerfileError(build('instructions-2', `FROM scratch\n${'RUN x\n'.repeat(1_000_000)}`), /Dockerfile:10001: the Dockerfile has more than 10000 instructions/);
    assertDockerfileError(build('stages', 'FROM scratch AS s\n'.repeat(5_000)), /Dockerfile:1001: the Dockerfile has more than 1000 stages/);
  });
});
