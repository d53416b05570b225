/**
 * `ADD <url>` of a large file streams: the built CLI adds a 1 GiB file served from this process, and its
 * peak resident set size, as GNU time measures it (`/usr/bin/time -v`, ru_maxrss of the CLI process),
 * stays under 300 MB. Not a timing test: only memory is asserted.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI_PATH } from '../helpers/cli.js';

const GNU_TIME = '/usr/bin/time';
const MiB = 1024 * 1024;
const SIZE = 1024 * MiB;
const LIMIT_KB = 300 * 1000;

function run(args: readonly string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(GNU_TIME, ['-v', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stderr }));
  });
}

describe('ADD <url> memory', { timeout: 900_000, skip: existsSync(GNU_TIME) ? false : `${GNU_TIME} (GNU time) is not installed: scripts/install-system-deps.sh` }, () => {
  let work: string;
  let server: Server;
  let url: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-add-memory-'));
    // 1 GiB of a random 1 MiB block repeated: incompressible per block, made on the fly.
    const block = randomBytes(MiB);
    server = createServer((request, response) => {
      response.writeHead(200, { 'content-length': String(SIZE), 'content-type': 'application/octet-stream' });
      let sent = 0;
      const pump = (): void => {
        while (sent < SIZE) {
          sent += block.length;
          if (!response.write(block)) {
            response.once('drain', pump);
            return;
          }
        }
        response.end();
      };
      pump();
      request.on('error', () => response.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/big.bin`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(work, { recursive: true, force: true });
  });

  it('ADD of a 1 GiB file served locally keeps the peak RSS under 300 MB', async () => {
    const context = join(work, 'context');
    await mkdir(context);
    await writeFile(join(context, 'Dockerfile'), `FROM scratch\nADD ${url} /big.bin\n`);
    // The server is on this host's loopback: ADD needs --allow network.host for it.
    const result = await run([process.execPath, CLI_PATH, '--root', join(work, 'root'), 'build', '--progress=plain', '--allow', 'network.host', '-t', 'big:1', context]);
    assert.equal(result.status, 0, result.stderr.slice(-4000));
    const match = /Maximum resident set size \(kbytes\): (\d+)/.exec(result.stderr);
    assert.ok(match?.[1] !== undefined, result.stderr.slice(-2000));
    const peakKb = Number(match[1]);
    process.stderr.write(`ADD 1 GiB: peak RSS ${(peakKb / 1000).toFixed(0)} MB\n`);
    assert.ok(peakKb < LIMIT_KB, `peak RSS ${peakKb} kB is not under ${LIMIT_KB} kB`);
  });
});
