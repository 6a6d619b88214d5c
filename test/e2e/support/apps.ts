import type { Server } from 'node:http';
import type { Express } from 'express';

/** Start `app` on a free port of 127.0.0.1. */
export function listenApp(app: Express): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server));
    server.once('error', reject);
  });
}

/** `http://127.0.0.1:<port>` of a listening server. */
export function originOf(server: Server): string {
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** Close `server` and every connection it holds (a page's kept-alive ones too). */
export function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
