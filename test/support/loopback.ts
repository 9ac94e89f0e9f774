/**
 * Loopback peers for tests and benchmarks: each server registers its own cleanup, and `closeAll` runs them.
 * Framework-free (no vitest import) so that the benchmarks can use it under plain tsx.
 */
import type { RequestListener } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo, Server, Socket } from 'node:net';
import { createServer as createNetServer } from 'node:net';

export type Cleanup = () => Promise<void>;

/** Listens on an ephemeral 127.0.0.1 port and returns it. */
async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** An HTTP server answering with `handler`; its cleanup drops open connections, keep-alive ones included. */
export async function httpServer(handler: RequestListener, cleanups: Cleanup[]): Promise<number> {
  const server = createServer(handler);
  const port = await listen(server);
  cleanups.push(
    () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return port;
}

/** A peer that accepts connections and never answers. */
export async function silentServer(cleanups: Cleanup[]): Promise<number> {
  const sockets: Socket[] = [];
  const server = createNetServer((socket) => sockets.push(socket));
  const port = await listen(server);
  cleanups.push(
    () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return port;
}

/** A port that refuses connections: bound, then released. */
export async function closedPort(): Promise<number> {
  const server = createNetServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Runs and empties `cleanups`. */
export async function closeAll(cleanups: Cleanup[]): Promise<void> {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
}
