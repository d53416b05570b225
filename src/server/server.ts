/**
 * `stagecraft serve`: one node:http server over the state root's history. GET routes are the
 * dashboard and its read-only JSON API; `POST /api/records` takes build records from other
 * builders: bearer token (constant-time compare), body cap (413 before parsing), zod-validated
 * bundle, stored by build id (a record sent twice is stored once). Every response carries a
 * Content-Security-Policy that allows only the server's own scripts, so even a string that slipped
 * into markup could not run.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StagecraftError } from '../core/index.js';
import { RecordBundle, fromRecordBundle, type HistoryQuery, type HistoryStore } from '../history/index.js';
import { buildLayers, debugView, listBuilds, oncall, showBuild, stats, type ApiDeps } from './api.js';
import type { Asset } from './assets.js';
import { bearerMatches } from './auth.js';

export interface ServerOptions {
  readonly store: HistoryStore;
  readonly query: HistoryQuery;
  /** The token builders must send; without one, posted records are refused. */
  readonly token?: string | undefined;
  /** Largest accepted request body (default 64 MiB: a record carries its builds' whole logs). */
  readonly maxBodyBytes?: number | undefined;
  readonly assets: ReadonlyMap<string, Asset>;
  /** Prometheus exposition of the history (`/metrics`), when available. */
  readonly metrics?: (() => Promise<{ readonly contentType: string; readonly body: string }>) | undefined;
  readonly sli?: ApiDeps['sli'];
  readonly clock?: (() => number) | undefined;
  readonly traceUrl?: ApiDeps['traceUrl'];
  /** One line per stored record and per refused post (no token, no body). */
  readonly log?: ((line: string) => void) | undefined;
}

export const DEFAULT_MAX_BODY = 64 * 1024 * 1024;

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Readonly<Record<string, string>> = {}) {
    super(message);
  }
}

function send(response: ServerResponse, status: number, type: string, body: string | Buffer, headers: Readonly<Record<string, string>> = {}): void {
  response.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': String(Buffer.byteLength(body)), ...headers });
  response.end(response.req.method === 'HEAD' ? undefined : body);
}

function json(response: ServerResponse, status: number, value: unknown, headers: Readonly<Record<string, string>> = {}): void {
  send(response, status, 'application/json; charset=utf-8', `${JSON.stringify(value)}\n`, headers);
}

/** The request body, refused with 413 as soon as it passes `max` bytes (declared or sent). */
async function readBody(request: IncomingMessage, max: number): Promise<Buffer> {
  const declared = request.headers['content-length'];
  if (declared !== undefined && Number(declared) > max) throw new HttpError(413, `the body (${declared} bytes) is larger than this server accepts (${max} bytes)`, { connection: 'close' });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > max) throw new HttpError(413, `the body is larger than this server accepts (${max} bytes)`, { connection: 'close' });
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

async function postRecord(options: ServerOptions, request: IncomingMessage): Promise<{ id: string; created: boolean }> {
  if (options.token === undefined) throw new HttpError(401, 'this server accepts no records: start it with --token-file or $STAGECRAFT_SERVE_TOKEN', { 'www-authenticate': 'Bearer' });
  if (!bearerMatches(request.headers.authorization, options.token)) throw new HttpError(401, 'a valid bearer token is required', { 'www-authenticate': 'Bearer' });
  const type = request.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) throw new HttpError(415, 'records are posted as application/json');
  const body = await readBody(request, options.maxBodyBytes ?? DEFAULT_MAX_BODY);
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new HttpError(400, `the body is not JSON: ${(error as Error).message}`);
  }
  const parsed = RecordBundle.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new HttpError(400, `not a build record bundle (version 1, as \`stagecraft history export\` writes): ${issues.join('; ')}`);
  }
  const id = parsed.data.build.id;
  const created = options.store.get(id) === undefined;
  options.store.save(fromRecordBundle(parsed.data));
  return { id, created };
}

async function route(options: ServerOptions, deps: ApiDeps, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://stagecraft.invalid');
  const path = url.pathname;
  const method = request.method ?? 'GET';
  if (path === '/api/records') {
    if (method !== 'POST') throw new HttpError(405, 'POST a record bundle here', { allow: 'POST' });
    const result = await postRecord(options, request);
    options.log?.(`stored build ${result.id}${result.created ? '' : ' (again; replaced)'}`);
    json(response, result.created ? 201 : 200, result);
    return;
  }
  if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, `${method} is not supported here`, { allow: 'GET, HEAD' });
  const params = url.searchParams;
  const build = /^\/api\/builds\/([^/]+)$/.exec(path);
  const layers = /^\/api\/layers\/([^/]+)$/.exec(path);
  if (path === '/api/builds') json(response, 200, listBuilds(deps, params));
  else if (build?.[1] !== undefined) json(response, 200, showBuild(deps, decodeURIComponent(build[1])));
  else if (layers?.[1] !== undefined) json(response, 200, buildLayers(deps, decodeURIComponent(layers[1])));
  else if (path === '/api/stats') json(response, 200, stats(deps, params));
  else if (path === '/api/oncall') json(response, 200, oncall(deps, params));
  else if (path === '/api/debug') json(response, 200, debugView(deps, params));
  else if (path === '/metrics') {
    if (options.metrics === undefined) throw new HttpError(404, 'metrics are not available in this build');
    const metrics = await options.metrics();
    send(response, 200, metrics.contentType, metrics.body);
  } else if (path === '/favicon.ico') {
    send(response, 204, 'image/x-icon', '');
  } else {
    const asset = options.assets.get(path);
    if (asset !== undefined) send(response, 200, asset.type, asset.body);
    else if (path === '/' || path.startsWith('/assets/')) throw new HttpError(503, 'the dashboard files are missing: run `npm run build` (they are copied to dist/dashboard)');
    else throw new HttpError(404, `no such path: ${path}`);
  }
}

/** The request handler (exported for tests that need no socket). */
export function createHandler(options: ServerOptions): (request: IncomingMessage, response: ServerResponse) => void {
  const deps: ApiDeps = { store: options.store, query: options.query, clock: options.clock ?? Date.now, sli: options.sli, traceUrl: options.traceUrl };
  return (request, response) => {
    route(options, deps, request, response).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status
        : error instanceof StagecraftError ? (error.code === 'NOT_FOUND' ? 404 : error.code === 'USAGE' ? 400 : 500) : 500;
      const message = error instanceof Error ? error.message : String(error);
      if (status === 401 || status === 413) options.log?.(`refused ${request.method ?? ''} ${request.url ?? ''} from ${request.socket.remoteAddress ?? '?'}: ${status}`);
      if (status === 500) options.log?.(`error: ${message}`);
      if (response.headersSent) {
        response.destroy();
        return;
      }
      json(response, status, { error: message }, error instanceof HttpError ? error.headers : {});
      // A refused body is not read to its end: close the connection after the answer.
      if (status === 413) response.once('finish', () => request.destroy());
    });
  };
}

export interface RunningServer {
  readonly server: Server;
  /** `http://host:port` */
  readonly url: string;
  close(): Promise<void>;
}

/** Listens on `host:port` (port 0: any free port). */
export async function startServer(options: ServerOptions, listen: { readonly host: string; readonly port: number }): Promise<RunningServer> {
  const server = createServer({ requestTimeout: 120_000, headersTimeout: 30_000 }, createHandler(options));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    url: `http://${host}:${address.port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
