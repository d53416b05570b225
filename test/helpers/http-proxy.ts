/**
 * A small HTTP proxy in front of a test registry, for registry client tests: it records every request,
 * and lets a test answer a request itself or change the registry's answer (drop the connection
 * mid-body, corrupt bytes, redirect, demand a bearer token). Upstream answers are buffered whole (test
 * blobs are small).
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

export interface ProxyHooks {
  /** Answer the request here (return true) instead of forwarding it. */
  readonly intercept?: (req: IncomingMessage, res: ServerResponse, body: Buffer) => boolean | Promise<boolean>;
  /** Send the upstream answer (default: as is). May write partially and destroy the socket. */
  readonly respond?: (req: IncomingMessage, upstream: UpstreamResponse, res: ServerResponse) => void;
}

export interface TestProxy {
  /** `127.0.0.1:PORT` */
  readonly host: string;
  readonly url: string;
  readonly requests: RecordedRequest[];
  stop(): Promise<void>;
}

async function readBody(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function sendUpstream(upstream: UpstreamResponse, res: ServerResponse): void {
  res.writeHead(upstream.status, upstream.headers);
  res.end(upstream.body);
}

/** Starts a proxy on a free 127.0.0.1 port forwarding to `target` (`127.0.0.1:PORT`). */
export async function startProxy(target: string, hooks: ProxyHooks = {}): Promise<TestProxy> {
  const requests: RecordedRequest[] = [];
  const [targetHost, targetPort] = target.split(':');
  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      requests.push({ method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers });
      if (hooks.intercept !== undefined && (await hooks.intercept(req, res, body))) return;
      const upstream = await new Promise<UpstreamResponse>((resolve, reject) => {
        const forward = httpRequest(
          { host: targetHost, port: Number(targetPort), method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            readBody(answer).then((data) => {
              const headers: Record<string, string | string[]> = {};
              for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined) headers[name] = value;
              resolve({ status: answer.statusCode ?? 502, headers, body: data });
            }, reject);
          },
        );
        forward.on('error', reject);
        forward.end(body);
      });
      (hooks.respond ?? ((_req, up, r) => sendUpstream(up, r)))(req, upstream, res);
    })().catch((error: unknown) => {
      res.destroy(error instanceof Error ? error : new Error(String(error)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const host = `127.0.0.1:${port}`;
  return {
    host,
    url: `http://${host}`,
    requests,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
