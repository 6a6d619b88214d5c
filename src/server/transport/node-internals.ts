/**
 * Every use of Node's internals in the daemon, in one file. Each is checked once when
 * this module loads and used only when the check passes and it is not switched off;
 * otherwise the daemon takes a path of public APIs only (slower, same answers).
 *
 * Switch them off with the environment variable `PUSHSERVER_NODE_INTERNALS_OFF`: `all`,
 * or a comma-separated list of {@link NodeInternal} names. The command line's banner
 * names the paths in use ({@link describeNodeInternals}).
 *
 * @module
 */
import { createServer, IncomingMessage, type Server, ServerResponse } from 'node:http';
import { Socket } from 'node:net';

/**
 * - `sharedReadBuffer`: raw-path sockets read into one buffer of ours (the symbols behind
 *   `net.Socket`'s `onread` option, and the handle's `useUserBuffer`); off: `data` events.
 * - `prebuiltHead`: a node:http response is written from a complete prebuilt answer by
 *   marking its header as sent (`_header`, `_headerSent`, as `compression` does); off:
 *   `writeHead` + `end`.
 * - `connectionHandOff`: the raw path takes a server's `connection` event and hands
 *   node:http the sockets it does not serve by calling node:http's own listener; off:
 *   no raw path (node:http serves everything).
 */
export type NodeInternal = 'sharedReadBuffer' | 'prebuiltHead' | 'connectionHandOff';

const NAMES: readonly NodeInternal[] = ['sharedReadBuffer', 'prebuiltHead', 'connectionHandOff'];

/** The symbols of `net.Socket`'s `onread` option, found on a socket made with it. */
const USER_BUFFER = ((): { buffer: symbol; callback: symbol } | undefined => {
  // `onread` is documented for net.connect; the Socket constructor reads it the same way.
  const options = { onread: { buffer: Buffer.alloc(1), callback: () => false } };
  const probe = new Socket(options as ConstructorParameters<typeof Socket>[0]);
  const symbols = Object.getOwnPropertySymbols(probe);
  const buffer = symbols.find((symbol) => symbol.description === 'kBuffer');
  const callback = symbols.find((symbol) => symbol.description === 'kBufferCb');
  return buffer && callback ? { buffer, callback } : undefined;
})();

/** The private fields of `ServerResponse` that say the header is already written. */
interface HeaderState {
  _header: string | null;
  _headerSent: boolean;
}

function hasHeaderState(): boolean {
  const res = new ServerResponse(new IncomingMessage(new Socket())) as unknown as HeaderState;
  return res._header === null && res._headerSent === false;
}

function hasOneConnectionListener(): boolean {
  const listeners = createServer().rawListeners('connection');
  return listeners.length === 1 && typeof listeners[0] === 'function';
}

/** Which internals this Node has, as checked at load. */
const AVAILABLE: Readonly<Record<NodeInternal, boolean>> = {
  sharedReadBuffer: USER_BUFFER !== undefined,
  prebuiltHead: hasHeaderState(),
  connectionHandOff: hasOneConnectionListener(),
};

/**
 * Read `PUSHSERVER_NODE_INTERNALS_OFF`.
 *
 * @param value the variable's value
 * @returns the names switched off, and the words that name nothing
 */
export function parseSwitchedOff(value: string | undefined): {
  off: Set<NodeInternal>;
  unknown: string[];
} {
  const off = new Set<NodeInternal>();
  const unknown: string[] = [];
  for (const word of (value ?? '').split(',').map((part) => part.trim())) {
    if (word === '') continue;
    if (word === 'all') for (const name of NAMES) off.add(name);
    else if ((NAMES as readonly string[]).includes(word)) off.add(word as NodeInternal);
    else unknown.push(word);
  }
  return { off, unknown };
}

const switched = parseSwitchedOff(process.env.PUSHSERVER_NODE_INTERNALS_OFF);
if (switched.unknown.length > 0) {
  console.error(
    `pushserver: PUSHSERVER_NODE_INTERNALS_OFF: ignoring ${switched.unknown.join(', ')}; use "all" or any of ${NAMES.join(', ')}`,
  );
}

/** The internals in use: available on this Node and not switched off. */
export const nodeInternals: Readonly<Record<NodeInternal, boolean>> = Object.freeze({
  sharedReadBuffer: AVAILABLE.sharedReadBuffer && !switched.off.has('sharedReadBuffer'),
  prebuiltHead: AVAILABLE.prebuiltHead && !switched.off.has('prebuiltHead'),
  connectionHandOff: AVAILABLE.connectionHandOff && !switched.off.has('connectionHandOff'),
});

/**
 * One line for the daemon's banner: which path each internal takes, and why.
 *
 * @example describeNodeInternals() // 'Node internals: sharedReadBuffer on, prebuiltHead on, connectionHandOff on'
 */
export function describeNodeInternals(): string {
  const parts = NAMES.map((name) => {
    if (nodeInternals[name]) return `${name} on`;
    return `${name} off (${AVAILABLE[name] ? 'switched off' : 'not in this Node'})`;
  });
  return `Node internals: ${parts.join(', ')}`;
}

interface ReadHandle {
  useUserBuffer?(buffer: Uint8Array): void;
}

/**
 * Make `socket` read into `buffer` and call `onRead(nread, buffer)` (with the socket as
 * `this`) instead of emitting `data`: a read then costs no Buffer, ArrayBuffer or stream
 * event of its own. Everything read must be handled before the next read overwrites it.
 *
 * @returns false when this Node, this socket or the switch does not allow it (use `data`)
 */
export function readIntoBuffer(
  socket: Socket,
  buffer: Buffer,
  onRead: (this: Socket, nread: number, buffer: Buffer) => boolean,
): boolean {
  if (!nodeInternals.sharedReadBuffer || USER_BUFFER === undefined) return false;
  const handle = (socket as unknown as { _handle?: ReadHandle })._handle;
  if (typeof handle?.useUserBuffer !== 'function') return false;
  const fields = socket as unknown as Record<symbol, unknown>;
  fields[USER_BUFFER.buffer] = buffer;
  fields[USER_BUFFER.callback] = onRead;
  handle.useUserBuffer(buffer);
  return true;
}

/**
 * Change the callback of a socket set up by {@link readIntoBuffer}.
 *
 * @param socket a socket {@link readIntoBuffer} returned true for
 * @param onRead the new callback
 */
export function setReadCallback(
  socket: Socket,
  onRead: (this: Socket, nread: number, buffer: Buffer) => boolean,
): void {
  if (USER_BUFFER) (socket as unknown as Record<symbol, unknown>)[USER_BUFFER.callback] = onRead;
}

/**
 * Answer `res` with a complete prebuilt 200 response (head and body), written as is.
 * It goes through `res.end`, so Node still orders pipelined answers, keeps the
 * connection alive and emits `finish`; only its header rendering is skipped.
 *
 * @returns false when the switch or the response does not allow it (use `writeHead`)
 */
export function writePrebuiltResponse(res: ServerResponse, head: string, bytes: Buffer): boolean {
  if (!nodeInternals.prebuiltHead || !res.shouldKeepAlive || res.headersSent) return false;
  const state = res as unknown as HeaderState;
  res.statusCode = 200;
  state._header = head;
  state._headerSent = true;
  res.end(bytes);
  return true;
}

/**
 * Take over `server`'s `connection` event: remove node:http's own listener and return
 * it, to be called with the sockets node:http should serve.
 *
 * @returns node:http's listener, or undefined when the switch or this Node does not
 *   allow it (then `server` is left as it was)
 */
export function takeConnectionListener(server: Server): ((socket: Socket) => void) | undefined {
  if (!nodeInternals.connectionHandOff) return undefined;
  const listeners = server.rawListeners('connection') as Array<(socket: Socket) => void>;
  if (listeners.length !== 1) return undefined;
  server.removeListener('connection', listeners[0]);
  return listeners[0];
}
