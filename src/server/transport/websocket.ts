/**
 * The WebSocket transport (Nchan's src/subscribers/websocket.c), framed by the `ws`
 * package: one frame per message, text unless the message's Content-Type is exactly
 * `application/octet-stream`. Plain: the frame is the body. With the `ws+meta.nchan`
 * subprotocol: `id: <id>\n`, `content-type: <type>\n` (when the message has one), a
 * blank line, then the body.
 *
 * Ends as Nchan ends it: channel deleted or daemon stopping, close 1001 `410 Gone`;
 * subscriber timeout, close 1000 `408 408 Request Timeout`; no pong to the previous
 * ping, close 1000 `410 Gon` (Nchan's bytes); a frame from the client, close 1008
 * `Publish` (nothing is published). A reader that lets more than
 * {@link STREAM_BUFFER_LIMIT} pile up is dropped.
 *
 * @module
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import * as wsPackage from 'ws';
import { type WebSocket, WebSocketServer } from 'ws';
import { formatMessageId, type MultiId } from '../protocol/message-id.js';
import type { Message } from '../store/types.js';
import type { Reply } from './reply.js';
import { type HeaderList, responseHead, upgradeHeadLines } from './response-head.js';
import { type EndReason, STREAM_BUFFER_LIMIT, type SubscriptionOutput } from './stream.js';

/** Nchan's subprotocol with an id and Content-Type before each message. */
export const META_PROTOCOL = 'ws+meta.nchan';
/** Milliseconds a closing connection waits for the client's close frame (as Nchan). */
const CLOSE_WAIT_MS = 250;
/** Largest frame a client may send (it is refused anyway: subscribers do not publish). */
const MAX_CLIENT_FRAME = 64 * 1024;

const ANSWERED = Symbol('upgradeHeaders');
type UpgradeRequest = IncomingMessage & { [ANSWERED]?: HeaderList };

/**
 * Whether a request is a WebSocket handshake (Nchan: `GET`, `Connection` naming
 * `upgrade`, `Upgrade: websocket`).
 *
 * @example wantsWebSocket('GET', { connection: 'Upgrade', upgrade: 'websocket' }) // true
 */
export function wantsWebSocket(method: string, headers: IncomingHttpHeaders): boolean {
  return (
    method === 'GET' &&
    /upgrade/i.test(headers.connection ?? '') &&
    (headers.upgrade ?? '').toLowerCase() === 'websocket'
  );
}

/** Completes WebSocket handshakes for the daemon, writing the 101 head in Nchan's order. */
export interface WebSocketAcceptor {
  /**
   * Complete a handshake (or answer 400 when it is malformed, then `done` never runs).
   *
   * @param headers the 101's own headers (CORS)
   * @param done receives the open connection
   */
  accept(
    req: IncomingMessage,
    socket: Socket,
    head: Buffer,
    headers: HeaderList,
    done: (ws: WebSocket) => void,
  ): void;
  close(): void;
}

/**
 * The daemon's handshake completer.
 *
 * @param servername the `Server` header of the 101
 * @example const websockets = createWebSocketAcceptor('pushserver');
 */
export function createWebSocketAcceptor(servername: string): WebSocketAcceptor {
  const server = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: MAX_CLIENT_FRAME,
    handleProtocols: (protocols) => (protocols.has(META_PROTOCOL) ? META_PROTOCOL : false),
  });
  server.on('headers', (lines: string[], req: UpgradeRequest) => {
    const headers = [...(req[ANSWERED] ?? [])];
    let accept = '';
    for (const line of lines) {
      if (line.startsWith('Sec-WebSocket-Accept: ')) accept = line.slice(22);
      else if (line.startsWith('Sec-WebSocket-Protocol: '))
        headers.push('Sec-WebSocket-Protocol', line.slice(24));
    }
    lines.splice(0, lines.length, ...upgradeHeadLines(servername, headers, accept));
  });
  return {
    accept(req, socket, head, headers, done) {
      (req as UpgradeRequest)[ANSWERED] = headers;
      server.handleUpgrade(req, socket, head, done);
    },
    close() {
      server.close();
    },
  };
}

/** `ws`'s framing, exported by the package but not in its type declarations. */
const { Sender } = wsPackage as unknown as {
  Sender: {
    frame(
      data: Buffer,
      options: { fin: boolean; rsv1: boolean; opcode: number; mask: boolean; readOnly: boolean },
    ): Buffer[];
  };
};

/**
 * The frame sent last, for the next subscriber of the same message (and, with
 * `ws+meta.nchan`, the same id): every subscriber of a channel gets the same bytes in a
 * row, so the frame is built once per message and written as one buffer.
 */
const lastFrame: { message: Message | undefined; id: string; frame: Buffer } = {
  message: undefined,
  id: '',
  frame: Buffer.alloc(0),
};

/**
 * The whole frame (head and payload, framed by `ws`'s own `Sender.frame`) of `message`
 * for a subscriber: `id` is its `ws+meta.nchan` id line's text, or null for plain.
 */
function frameOf(message: Message, id: string | null): Buffer {
  const key = id ?? '';
  if (message === lastFrame.message && key === lastFrame.id) return lastFrame.frame;
  let payload = message.body;
  if (id !== null) {
    const type = message.contentType === null ? '' : `content-type: ${message.contentType}\n`;
    payload = Buffer.concat([Buffer.from(`id: ${id}\n${type}\n`, 'latin1'), message.body]);
  }
  // The head, then the payload unless it is empty.
  const parts = Sender.frame(payload, {
    fin: true,
    rsv1: false,
    opcode: message.contentType === 'application/octet-stream' ? 2 : 1,
    mask: false,
    readOnly: true,
  });
  lastFrame.message = message;
  lastFrame.id = key;
  lastFrame.frame = parts.length === 1 ? parts[0] : Buffer.concat(parts);
  return lastFrame.frame;
}

/** What a {@link WebSocketOutput} is made of. */
export interface WebSocketRequest {
  req: IncomingMessage;
  socket: Socket;
  head: Buffer;
  /** Answers a refusal before the handshake. */
  reply: UpgradeReply;
  cors: HeaderList;
  /** Seconds between pings; 0: none. */
  pingSeconds: number;
}

/** A WebSocket subscriber's connection, driven by its subscription. */
export class WebSocketOutput implements SubscriptionOutput {
  readonly transport = 'websocket';
  readonly stream = true;
  private ws: WebSocket | undefined;
  private readonly meta: boolean;
  private ping: NodeJS.Timeout | undefined;
  private closeListener: (() => void) | undefined;

  constructor(
    private readonly acceptor: WebSocketAcceptor,
    private readonly request: WebSocketRequest,
  ) {
    const protocols = String(request.req.headers['sec-websocket-protocol'] ?? '');
    this.meta = protocols.split(',').some((name) => name.trim() === META_PROTOCOL);
    // Also after a handshake `ws` refused: the subscription must not outlive its socket.
    request.socket.once('close', () => {
      clearInterval(this.ping);
      this.closeListener?.();
    });
  }

  /** `listener` runs once when the connection closes, whoever closed it. */
  onClose(listener: () => void): void {
    this.closeListener = listener;
  }

  open(): void {
    const { req, socket, head, cors, reply } = this.request;
    this.acceptor.accept(req, socket, head, cors, (ws) => {
      this.ws = ws;
      reply.status = 101;
      ws.on('error', ignore);
      // Subscribers do not publish: Nchan closes with 1008 "Publish".
      ws.on('message', () => this.close(1008, 'Publish', true));
      if (this.request.pingSeconds > 0) this.startPings(ws);
    });
  }

  refuse(status: number): void {
    this.request.reply.send(status, this.request.cors);
  }

  parked(): void {}

  message(message: Message, id: MultiId): void {
    const ws = this.ws;
    if (ws === undefined || ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > STREAM_BUFFER_LIMIT) {
      this.request.socket.destroy();
      return;
    }
    // Written to the socket ws reads and writes: with no compression ws writes its own
    // frames (pings, close) at once too, so frames never interleave.
    this.request.socket.write(frameOf(message, this.meta ? formatMessageId(id) : null));
  }

  end(reason: EndReason): void {
    if (this.ws === undefined) this.refuse(reason === 'timeout' ? 408 : 410);
    else if (reason === 'timeout') this.close(1000, '408 408 Request Timeout', false);
    else this.close(1001, '410 Gone', reason === 'shutdown');
  }

  /** Send a close frame; end the connection now, or when the client has not answered it in time. */
  private close(code: number, reason: string, now: boolean): void {
    clearInterval(this.ping);
    const { socket } = this.request;
    if (this.ws?.readyState === this.ws?.OPEN) this.ws?.close(code, reason);
    if (now) socket.end();
    else setTimeout(() => socket.destroy(), CLOSE_WAIT_MS).unref();
  }

  private startPings(ws: WebSocket): void {
    let answered = true;
    ws.on('pong', () => {
      answered = true;
    });
    this.ping = setInterval(() => {
      // Nchan's reason is cut to these 7 bytes.
      if (!answered) return this.close(1000, '410 Gon', true);
      answered = false;
      ws.ping();
    }, this.request.pingSeconds * 1000);
    this.ping.unref();
  }
}

/** Answers an upgrade request that is refused, on its socket, with the daemon's usual heads. */
export class UpgradeReply implements Reply {
  headersSent = false;
  /** The answer's status for the log: 101 once upgraded, 0 before any. */
  status = 0;
  /** The transport the request asked for, for the log. */
  transportName = 'websocket';

  constructor(
    private readonly socket: Socket,
    private readonly servername: string,
  ) {}

  send(status: number, headers: HeaderList, body: string | Buffer = ''): void {
    if (this.headersSent) return;
    this.headersSent = true;
    this.status = status;
    const length = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    const { head } = responseHead(status, this.servername, headers, length, false);
    if (this.socket.writable) {
      this.socket.write(head, 'latin1');
      this.socket.end(body);
    }
  }

  sendPrebuilt(): boolean {
    return false;
  }

  parked(): void {}

  transport(name: string): void {
    this.transportName = name;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function ignore(): void {}
