/**
 * pushserver/server: the push daemon as a library. `createPushServer(settings)` gives
 * a Node `(req, res)` handler that speaks Nchan's publisher / subscriber protocol,
 * plus `listen()` / `close()`; `npx runpushserver` (`cli/`) is a command line around it.
 *
 * @example
 * import { createPushServer } from 'pushserver/server';
 * const push = createPushServer({ port: 8001 });
 * await push.listen();
 *
 * @module
 */
export {
  createPushServer,
  logRequest,
  type PushServer,
  type PushServerOptions,
  type RequestLogEntry,
} from './daemon.js';
export { createMemoryStore, type MemoryStoreOptions } from './store/memory.js';
export * from './store/types.js';
