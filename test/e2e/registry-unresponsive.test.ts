/**
 * The built CLI against registries that never serve the image: one that answers 404 to everything
 * (with an empty body, or with a body that never ends), 401 without a WWW-Authenticate challenge, 500
 * to everything, 200 with a manifest body that stalls, and one that accepts the connection and never
 * answers. `build` (FROM that registry)
 * and `pull` must end on their own with the exit status of the error code and a message naming the
 * image, as `docker buildx build` does ("failed to resolve source metadata for …"), never hang.
 *
 * Each CLI run is killed after KILL_AFTER_MS; a run that had to be killed fails the test. The bound is
 * generous on purpose (a loaded machine): it only separates "ends" from "hangs for minutes".
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI_PATH } from '../helpers/cli.js';

const KILL_AFTER_MS = 90_000;

interface Run {
  readonly status: number | null;
  readonly stderr: string;
  readonly killed: boolean;
}

/** Runs the CLI without blocking this process's event loop (the fake registries live here). */
function cli(args: readonly string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, KILL_AFTER_MS);
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stderr, killed });
    });
  });
}

interface FakeRegistry {
  readonly host: string;
  readonly requests: string[];
  close(): Promise<void>;
}

async function startFake(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<FakeRegistry> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method ?? ''} ${req.url ?? ''}`);
    handle(req, res);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    requests,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Case {
  readonly name: string;
  readonly handle: (req: IncomingMessage, res: ServerResponse) => void;
  readonly exit: number;
  /** What the message says after the image name. */
  readonly why: RegExp;
}

const cases: readonly Case[] = [
  { name: '404 with an empty body', handle: (_req, res) => { res.writeHead(404).end(); }, exit: 6, why: /404 Not Found/ },
  {
    name: '404 whose body never ends',
    handle: (_req, res) => {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.write('not here');
    },
    exit: 6,
    why: /404 Not Found \(not here\)/,
  },
  { name: '401 without WWW-Authenticate', handle: (_req, res) => { res.writeHead(401).end(); }, exit: 7, why: /requires authentication/ },
  { name: '500 to everything', handle: (_req, res) => { res.writeHead(500).end(); }, exit: 7, why: /500 Internal Server Error/ },
  {
    name: 'a manifest body that stalls after the headers',
    handle: (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      res.write('{"schemaVersion":');
    },
    exit: 7,
    why: /the response body stalled \(no data for 2 s\)/,
  },
  // Accepts the connection, reads the request, never answers.
  { name: 'a registry that never answers', handle: () => undefined, exit: 7, why: /timed out after 2 s waiting for 127\.0\.0\.1:\d+ to answer/ },
];

describe('build and pull from a registry that never serves the image', { timeout: 15 * 60_000 }, () => {
  let work: string;
  let root: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-registry-unresponsive-'));
    root = join(work, 'root');
    await mkdir(root, { recursive: true });
    // A short response timeout keeps the silent case quick; the default (30 s) is the same code path.
    await writeFile(join(root, 'config.json'), JSON.stringify({ registryResponseTimeout: 2 }));
  });

  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  for (const c of cases) {
    it(`build FROM ${c.name}: ends with exit ${c.exit} and names the image`, async () => {
      const fake = await startFake(c.handle);
      try {
        const image = `${fake.host}/never/pulled:1`;
        const context = join(work, `ctx-${cases.indexOf(c)}`);
        await mkdir(context, { recursive: true });
        await writeFile(join(context, 'Dockerfile'), `FROM ${image}\nRUN echo one\n`);
        const run = await cli(['build', '--root', root, '--progress=plain', context]);
        assert.equal(run.killed, false, `the build did not end within ${KILL_AFTER_MS / 1000} s:\n${run.stderr}`);
        assert.equal(run.status, c.exit, run.stderr);
        const escaped = image.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        assert.match(run.stderr, new RegExp(`error: failed to resolve source metadata for ${escaped}: `), run.stderr);
        assert.match(run.stderr, c.why);
        assert.doesNotMatch(run.stderr, /internal error/i);
        assert.ok(fake.requests.length > 0, 'the registry was asked');
        assert.ok(fake.requests.every((r) => r.startsWith('GET /v2/never/pulled/manifests/1')), fake.requests.join('\n'));
      } finally {
        await fake.close();
      }
    });

    it(`pull from ${c.name}: ends with exit ${c.exit} and names the image`, async () => {
      const fake = await startFake(c.handle);
      try {
        const image = `${fake.host}/never/pulled:1`;
        const run = await cli(['pull', '--root', root, image]);
        assert.equal(run.killed, false, `the pull did not end within ${KILL_AFTER_MS / 1000} s:\n${run.stderr}`);
        assert.equal(run.status, c.exit, run.stderr);
        assert.ok(run.stderr.includes(image), run.stderr);
        assert.match(run.stderr, c.why);
        assert.doesNotMatch(run.stderr, /internal error/i);
      } finally {
        await fake.close();
      }
    });
  }

  it('a 404 is not retried: one request per manifest lookup', async () => {
    const fake = await startFake((_req, res) => { res.writeHead(404).end(); });
    try {
      const run = await cli(['pull', '--root', root, `${fake.host}/never/pulled:1`]);
      assert.equal(run.status, 6, run.stderr);
      assert.equal(fake.requests.length, 1, fake.requests.join('\n'));
    } finally {
      await fake.close();
    }
  });
});
