import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { CLI_PATH } from '../helpers/cli.js';

/**
 * Replays the escape sequences the tty renderer uses (cursor up/down, erase line, CR, LF) on a
 * screen model and returns the screen after every frame.
 */
function screens(output: string): string[][] {
  const lines: string[] = [''];
  let row = 0;
  const shots: string[][] = [];
  const re = /\x1b\[(\d*)([ABK])|\r|\n|[^\x1b\r\n]+/g;
  for (const match of output.matchAll(re)) {
    const token = match[0];
    if (match[2] === 'A') {
      shots.push([...lines]);
      row = Math.max(0, row - Number(match[1] || '1'));
    } else if (match[2] === 'B') {
      row += Number(match[1] || '1');
      while (lines.length <= row) lines.push('');
    } else if (match[2] === 'K') {
      lines[row] = '';
    } else if (token === '\r') {
      // column 0: the next text replaces the line (the renderer always erases first)
    } else if (token === '\n') {
      row++;
      while (lines.length <= row) lines.push('');
    } else {
      lines[row] = (lines[row] ?? '') + token;
    }
  }
  shots.push([...lines]);
  return shots;
}

describe('stagecraft build --progress=tty in a pseudo-terminal', () => {
  let env: BuildEnv;
  before(async () => {
    env = await startBuildEnv();
  });
  after(async () => {
    await env.close();
  });

  it('shows the three parallel stages running at once, then a summary', () => {
    const dir = join(env.work, 'tty');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), [
      `FROM ${env.busybox} AS a`, 'RUN echo start-a && sleep 2',
      `FROM ${env.busybox} AS b`, 'RUN echo start-b && sleep 2',
      `FROM ${env.busybox} AS c`, 'RUN echo start-c && sleep 2',
      `FROM ${env.busybox}`, 'COPY --from=a /etc/passwd /a', 'COPY --from=b /etc/passwd /b', 'COPY --from=c /etc/passwd /c', '',
    ].join('\n'));
    const command = `COLUMNS=120 ${process.execPath} ${CLI_PATH} --root ${join(env.work, 'tty-root')} build --progress=tty ${dir}`;
    const run = spawnSync('script', ['-q', '-e', '-c', command, '/dev/null'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 0, run.stdout);
    const shots = screens(run.stdout);
    const together = shots.find((screen) => ['start-a', 'start-b', 'start-c'].every((s) => screen.some((line) => line === ` => => # ${s}`)));
    assert.ok(together !== undefined, `no frame showed all three running:\n${shots.at(-1)?.join('\n') ?? ''}`);
    assert.equal(together.filter((line) => /^ => \[[abc] 2\/2\] RUN echo start-[abc] && sleep 2 +\d+\.\ds$/.test(line)).length, 3, together.join("\n"));
    const last = shots.at(-1) ?? [];
    assert.ok(last.some((line) => /^\[\+\] Building \d+\.\ds \(\d+\/\d+\) FINISHED/.test(line)), last.join('\n'));
    assert.ok(!last.some((line) => line.startsWith(' => => # ')), 'finished steps collapse their logs');
    assert.match(run.stdout, /built image sha256:[a-f0-9]{64} in \d+\.\ds: \d+ steps run, \d+ cached/);
  });
});
