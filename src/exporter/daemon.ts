/**
 * The local Docker daemon as an export target (`--load`, `-o type=docker` without `dest`): a
 * docker-archive streamed to the Engine API's `POST /images/load` over the daemon's unix socket, as
 * `docker load` does. The daemon answers with a JSON message stream (one object per line, see the
 * Engine API "ImageLoad" and moby's pkg/jsonmessage); its `error` objects become StagecraftErrors.
 */
import { lstat } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { StagecraftError } from '../core/index.js';

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

/** A daemon's answer is small (one line per image); a longer one is not a Docker daemon's. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

export interface DockerDaemonOptions {
  /** The daemon's unix socket (default /var/run/docker.sock). */
  readonly socketPath?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface DockerLoadResult {
  /** What the daemon reports as loaded: `name:tag` per tagged image, else the image ID (`sha256:…`). */
  readonly loaded: readonly string[];
}

/**
 * The daemon socket named by the environment, as the docker CLI reads it: `DOCKER_HOST=unix:///path`,
 * else /var/run/docker.sock. Other DOCKER_HOST schemes (tcp://, ssh://) are a CONFIG error: only a
 * local socket is supported.
 */
export function dockerDaemonSocket(env: NodeJS.ProcessEnv): string {
  const host = env.DOCKER_HOST;
  if (host === undefined || host === '') return DEFAULT_DOCKER_SOCKET;
  if (host.startsWith('unix://') && host.length > 'unix://'.length) return host.slice('unix://'.length);
  throw new StagecraftError('CONFIG', `DOCKER_HOST=${host}: stagecraft loads images into a Docker daemon through a local unix socket only`, {
    hint: 'set DOCKER_HOST=unix:///path/to/docker.sock (or unset it for /var/run/docker.sock), or use -o type=docker,dest=FILE and `docker load -i FILE`',
  });
}

function noDaemon(socketPath: string, why: string, cause?: unknown): StagecraftError {
  return new StagecraftError('EXTERNAL_TOOL', `no Docker daemon at ${socketPath}${why === '' ? '' : ` (${why})`}`, {
    hint: 'use -o type=docker,dest=FILE or start dockerd (or point DOCKER_HOST=unix://… at its socket)',
    ...(cause === undefined ? {} : { cause }),
  });
}

/** The socket error of a request that never got an answer, in the user's terms. */
function connectError(socketPath: string, error: unknown): StagecraftError | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return noDaemon(socketPath, '', error);
  if (code === 'ECONNREFUSED') return noDaemon(socketPath, 'nothing listens on the socket', error);
  if (code === 'EACCES' || code === 'EPERM') {
    return new StagecraftError('EXTERNAL_TOOL', `permission denied on the Docker daemon socket ${socketPath}`, {
      hint: 'run as a member of the docker group (or as root), or use -o type=docker,dest=FILE',
      cause: error,
    });
  }
  return undefined;
}

/** Checks that `socketPath` exists and is a socket, before any archive is made. */
async function checkSocket(socketPath: string): Promise<void> {
  let stats;
  try {
    stats = await lstat(socketPath);
  } catch (error) {
    throw connectError(socketPath, error) ?? noDaemon(socketPath, (error as Error).message, error);
  }
  if (!stats.isSocket()) throw noDaemon(socketPath, 'the path is not a socket');
}

/**
 * Asks the daemon at the socket whether it answers (`GET /_ping`), so that `--load` fails before the
 * build starts when there is no daemon. Throws EXTERNAL_TOOL naming the socket otherwise.
 */
export async function pingDockerDaemon(opts: DockerDaemonOptions = {}): Promise<void> {
  const socketPath = opts.socketPath ?? DEFAULT_DOCKER_SOCKET;
  await checkSocket(socketPath);
  const response = await send(socketPath, 'GET', '/_ping', undefined, opts.signal);
  const text = await readBody(response, opts.signal);
  if (response.statusCode !== 200) throw daemonError(socketPath, response.statusCode, text);
}

// One message of moby's jsonmessage stream; only what we read is declared (others pass through).
const messageSchema = z.object({
  stream: z.string().optional(),
  status: z.string().optional(),
  error: z.string().optional(),
  errorDetail: z.object({ message: z.string().optional() }).passthrough().optional(),
}).passthrough();

const errorBodySchema = z.object({ message: z.string() }).passthrough();

function daemonError(socketPath: string, status: number | undefined, body: string): StagecraftError {
  let message = body.trim().slice(0, 2000);
  try {
    const parsed = errorBodySchema.safeParse(JSON.parse(body));
    if (parsed.success) message = parsed.data.message;
  } catch {
    // Not JSON: the body as text.
  }
  return new StagecraftError('EXTERNAL_TOOL', `the Docker daemon at ${socketPath} refused the request (HTTP ${status ?? '?'}): ${message === '' ? 'no message' : message}`, {
    hint: 'check the daemon (`docker info`), or use -o type=docker,dest=FILE and load the file yourself',
  });
}

function send(socketPath: string, method: 'GET' | 'POST', path: string, body: Readable | undefined, signal: AbortSignal | undefined): Promise<IncomingMessage> & { upload: Promise<void> } {
  const request = httpRequest({
    socketPath,
    method,
    path,
    headers: body === undefined ? {} : { 'content-type': 'application/x-tar', 'transfer-encoding': 'chunked' },
    ...(signal === undefined ? {} : { signal }),
  });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    request.once('response', resolve);
    request.on('error', (error) => reject(connectError(socketPath, error) ?? error));
  });
  // The body streams straight from its producer to the socket; a failing producer destroys the
  // request (and so the response promise rejects too).
  let upload: Promise<void>;
  if (body === undefined) {
    request.end();
    upload = Promise.resolve();
  } else {
    upload = pipeline(body, request);
  }
  return Object.assign(response, { upload });
}

async function readBody(response: IncomingMessage, signal: AbortSignal | undefined): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response) {
    signal?.throwIfAborted();
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_RESPONSE_BYTES) {
      response.destroy();
      throw new StagecraftError('EXTERNAL_TOOL', `the Docker daemon's answer is longer than ${MAX_RESPONSE_BYTES} bytes`, { hint: 'check that the socket is a Docker daemon\'s' });
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The images named in the daemon's `Loaded image: …` / `Loaded image ID: …` lines; throws on an `error` message. */
function parseLoadMessages(socketPath: string, text: string): string[] {
  const loaded: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new StagecraftError('EXTERNAL_TOOL', `the Docker daemon at ${socketPath} answered with a line that is not JSON: ${JSON.stringify(line.slice(0, 200))}`, { hint: 'check that the socket is a Docker daemon\'s', cause: error });
    }
    const parsed = messageSchema.safeParse(value);
    if (!parsed.success) continue;
    const message = parsed.data;
    const error = message.errorDetail?.message ?? message.error;
    if (error !== undefined && error !== '') {
      throw new StagecraftError('EXTERNAL_TOOL', `the Docker daemon at ${socketPath} could not load the image: ${error}`, {
        hint: 'use -o type=docker,dest=FILE to keep the archive and try `docker load -i FILE`',
      });
    }
    for (const part of (message.stream ?? '').split('\n')) {
      const match = /^Loaded image(?: ID)?: (\S+)\s*$/.exec(part);
      if (match?.[1] !== undefined) loaded.push(match[1]);
    }
  }
  return loaded;
}

function toReadable(archive: AsyncIterable<Uint8Array> | NodeJS.ReadableStream): Readable {
  return archive instanceof Readable ? archive : Readable.from(archive as AsyncIterable<Uint8Array>, { objectMode: false });
}

/**
 * Streams the docker-archive made by `archive()` into the Docker daemon at `socketPath` (default
 * /var/run/docker.sock). `archive` is called only once the socket is known to exist, so no archive
 * is produced for a missing daemon. Resolves with what the daemon reports as loaded.
 *
 * Errors: EXTERNAL_TOOL when there is no daemon, it refuses the archive or reports an error while
 * loading; the archive producer's own error when it fails; the signal's reason on abort.
 */
export async function loadIntoDockerDaemon(archive: () => AsyncIterable<Uint8Array> | NodeJS.ReadableStream, opts: { socketPath?: string | undefined; signal?: AbortSignal | undefined }): Promise<{ readonly loaded: readonly string[] }> {
  const socketPath = opts.socketPath ?? DEFAULT_DOCKER_SOCKET;
  const signal = opts.signal;
  signal?.throwIfAborted();
  await checkSocket(socketPath);
  const body = toReadable(archive());
  try {
    // quiet=1: the answer is the `Loaded image` lines and errors, without progress bars.
    const pending = send(socketPath, 'POST', '/images/load?quiet=1', body, signal);
    const [upload, answer] = await Promise.allSettled([pending.upload, pending]);
    signal?.throwIfAborted();
    if (answer.status === 'rejected') {
      // No answer: the producer's failure explains it best, else the connection's.
      throw upload.status === 'rejected' ? upload.reason : answer.reason;
    }
    const response = answer.value;
    const text = await readBody(response, signal);
    if (response.statusCode !== 200) throw daemonError(socketPath, response.statusCode, text);
    if (upload.status === 'rejected') throw upload.reason;
    return { loaded: parseLoadMessages(socketPath, text) };
  } catch (error) {
    signal?.throwIfAborted();
    throw error;
  } finally {
    body.destroy();
  }
}
