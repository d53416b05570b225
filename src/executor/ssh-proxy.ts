/**
 * A per-run unix socket that forwards each connection to a host socket (an ssh agent). The host
 * socket cannot be chowned or chmodded for one container without changing it for everyone, so the
 * container gets its own socket with the owner and mode the RUN --mount=type=ssh asked for.
 */
import { chmod, chown } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface SocketProxy extends AsyncDisposable {
  readonly path: string;
}

export async function startSocketProxy(options: { path: string; upstream: string; uid: number; gid: number; mode: number }): Promise<SocketProxy> {
  const connections = new Set<Socket>();
  // Half-open sockets: a client that shuts down its write side still gets the whole answer.
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = createConnection({ path: options.upstream, allowHalfOpen: true });
    connections.add(client);
    connections.add(upstream);
    const close = (): void => {
      client.destroy();
      upstream.destroy();
      connections.delete(client);
      connections.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chown(options.path, options.uid, options.gid);
  await chmod(options.path, options.mode);
  return {
    path: options.path,
    async [Symbol.asyncDispose]() {
      for (const socket of connections) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
