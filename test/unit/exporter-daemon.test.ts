/**
 * The Docker daemon client against a fake daemon on a unix socket (the real dockerd is in
 * test/integration/docker-daemon.test.ts): socket checks before any archive is made, the JSON
 * message stream, errors in it and in the HTTP status, a failing archive producer, abort.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { isStagecraftError } from '../../src/core/index.js';
import { dockerDaemonSocket, loadIntoDockerDaemon, pingDockerDaemon } from '../../src/exporter/index.js';

type Handler = (request: IncomingMessage, body: Buffer, response: ServerResponse) => void;

function chunks(parts: readonly string[], failAfter?: Error): Readable {
  function* generate(): Generator<Buffer> {
    for (const part of parts) yield Buffer.from(part);
    if (failAfter !== undefined) throw failAfter;
  }
  return Readable.from(generate());
}

describe('exporter: Docker daemon client', () => {
  let dir: string;
  let socket: string;
  let server: Server;
  let handler: Handler = (_request, _body, response) => response.end();
  const received: { method: string; url: string; contentType: string | undefined; body: string }[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagecraft-daemon-unit-'));
    socket = join(dir, 'docker.sock');
    server = createServer((request, response) => {
      const parts: Buffer[] = [];
      request.on('data', (chunk: Buffer) => parts.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(parts);
        received.push({ method: request.method ?? '', url: request.url ?? '', contentType: request.headers['content-type'], body: body.toString('utf8') });
        handler(request, body, response);
      });
      request.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the socket from DOCKER_HOST=unix://, defaults to /var/run/docker.sock and refuses tcp://', () => {
    assert.equal(dockerDaemonSocket({}), '/var/run/docker.sock');
    assert.equal(dockerDaemonSocket({ DOCKER_HOST: '' }), '/var/run/docker.sock');
    assert.equal(dockerDaemonSocket({ DOCKER_HOST: 'unix:///run/user/1000/docker.sock' }), '/run/user/1000/docker.sock');
    assert.throws(() => dockerDaemonSocket({ DOCKER_HOST: 'tcp://10.0.0.1:2375' }), (error: unknown) => isStagecraftError(error) && error.code === 'CONFIG' && /tcp:\/\/10\.0\.0\.1:2375/.test(error.message));
  });

  it('fails with a clear error, before making the archive, when there is no socket', async () => {
    let made = false;
    const missing = join(dir, 'nothing.sock');
    await assert.rejects(
      loadIntoDockerDaemon(() => {
        made = true;
        return chunks(['x']);
      }, { socketPath: missing }),
      (error: unknown) => isStagecraftError(error) && error.code === 'EXTERNAL_TOOL' && error.message === `no Docker daemon at ${missing}` && /type=docker,dest=FILE/.test(error.hint ?? '') && /start dockerd/.test(error.hint ?? ''),
    );
    assert.equal(made, false, 'no archive is produced for a missing daemon');
    const regular = join(dir, 'regular-file');
    await writeFile(regular, '');
    await assert.rejects(loadIntoDockerDaemon(() => chunks(['x']), { socketPath: regular }), (error: unknown) => isStagecraftError(error) && /no Docker daemon at .*not a socket/.test(error.message));
    await assert.rejects(pingDockerDaemon({ socketPath: missing }), (error: unknown) => isStagecraftError(error) && error.code === 'EXTERNAL_TOOL');
  });

  it('streams the archive to POST /images/load and returns the loaded names from the message stream', async () => {
    received.length = 0;
    handler = (_request, _body, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"stream":"Loaded image: app:1\\n"}\r\n{"stream":"Loaded image: registry.example/x/y:2\\n"}\r\n{"stream":"Loaded image ID: sha256:0123\\n"}\r\n');
    };
    const result = await loadIntoDockerDaemon(() => chunks(['part one,', 'part two']), { socketPath: socket });
    assert.deepEqual(result.loaded, ['app:1', 'registry.example/x/y:2', 'sha256:0123']);
    assert.deepEqual(received, [{ method: 'POST', url: '/images/load?quiet=1', contentType: 'application/x-tar', body: 'part one,part two' }]);
  });

  it('surfaces an error message in the stream and an HTTP error status with the daemon\'s message', async () => {
    handler = (_request, _body, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"errorDetail":{"message":"open /var/lib/docker/tmp/x/manifest.json: no such file or directory"},"error":"open manifest.json: no such file"}\r\n');
    };
    await assert.rejects(loadIntoDockerDaemon(() => chunks(['x']), { socketPath: socket }),
      (error: unknown) => isStagecraftError(error) && error.code === 'EXTERNAL_TOOL' && /could not load the image: open \/var\/lib\/docker\/tmp\/x\/manifest\.json: no such file or directory/.test(error.message));
    handler = (_request, _body, response) => {
      response.writeHead(500, { 'content-type': 'application/json' });
      response.end('{"message":"unexpected EOF"}\n');
    };
    await assert.rejects(loadIntoDockerDaemon(() => chunks(['x']), { socketPath: socket }),
      (error: unknown) => isStagecraftError(error) && error.code === 'EXTERNAL_TOOL' && /refused the request \(HTTP 500\): unexpected EOF/.test(error.message));
    handler = (_request, _body, response) => {
      response.writeHead(200);
      response.end('<html>not docker</html>\n');
    };
    await assert.rejects(loadIntoDockerDaemon(() => chunks(['x']), { socketPath: socket }),
      (error: unknown) => isStagecraftError(error) && /not JSON/.test(error.message));
  });

  it('reports the archive producer\'s own failure', async () => {
    handler = (_request, _body, response) => {
      response.writeHead(200);
      response.end('{"stream":"Loaded image: app:1\\n"}\n');
    };
    const failure = new Error('blob sha256:abc is missing');
    await assert.rejects(loadIntoDockerDaemon(() => chunks(['some', 'bytes'], failure), { socketPath: socket }), (error: unknown) => error === failure);
  });

  it('stops on abort with the signal\'s reason', async () => {
    handler = () => undefined; // never answers
    const controller = new AbortController();
    const reason = new Error('interrupted');
    const pending = loadIntoDockerDaemon(() => chunks(['x']), { socketPath: socket, signal: controller.signal });
    setTimeout(() => controller.abort(reason), 50);
    await assert.rejects(pending, (error: unknown) => error === reason);
  });

  it('pings the daemon', async () => {
    handler = (request, _body, response) => {
      response.writeHead(request.url === '/_ping' ? 200 : 404);
      response.end('OK');
    };
    await pingDockerDaemon({ socketPath: socket });
  });
});
