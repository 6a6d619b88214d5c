/**
 * The EventSource transport (Nchan's src/subscribers/eventsource.c): a `200
 * text/event-stream` answer that never ends on its own, `: hi` first, then one event
 * per message, byte for byte as Nchan 1.3.6 writes them:
 *
 *     event: <X-EventSource-Event>     (only when the publish had one)
 *     id: <time>:<tags>
 *     data: <line>                     (one per LF-separated line of the body)
 *
 * A channel deleted or the daemon stopping ends it with `:410: 410 Gone`, the
 * subscriber timeout with `:408: 408 Request Timeout`; then the connection closes.
 *
 * @module
 */
import { formatMessageId, type MultiId } from '../protocol/message-id.js';
import type { Message } from '../store/types.js';
import type { Reply } from './reply.js';
import type { HeaderList } from './response-head.js';
import {
  type EndReason,
  STREAM_BUFFER_LIMIT,
  type StreamSink,
  type SubscriptionOutput,
} from './stream.js';

/** Nchan's Content-Type of the stream. */
export const EVENT_STREAM_TYPE = 'text/event-stream; charset=utf-8';
const HELLO = ': hi\n\n';
const PING = 'event: ping\n\n';
const DATA = Buffer.from('data: ', 'latin1');
const LF = Buffer.from('\n', 'latin1');
const ENDINGS: Record<EndReason, string> = {
  gone: ':410: 410 Gone\n\n',
  shutdown: ':410: 410 Gone\n\n',
  'not-modified': '',
  timeout: ':408: 408 Request Timeout\n\n',
};

/**
 * Whether a request asks for an EventSource stream (Nchan: its `Accept` names
 * `text/event-stream`).
 *
 * @example wantsEventSource({ accept: 'text/event-stream' }) // true
 */
export function wantsEventSource(headers: { accept?: string | string[] }): boolean {
  const accept = headers.accept;
  return typeof accept === 'string' && accept.includes('text/event-stream');
}

/**
 * One message as an event, as Nchan frames it: `event:` (when the message has one),
 * `id:`, then `data: ` before each LF-separated piece of the body (a CR stays in its
 * piece; an empty body or a trailing LF gives an empty `data: ` line), then a blank line.
 *
 * @param message the stored message
 * @param id the event's id, e.g. `1796323864:0` or `1796323864:-,[0]`
 * @returns the bytes to write
 * @example eventFrame({ id: { time: 9, tag: 0 }, contentType: null, body: Buffer.from('a\nb') }, '9:0').toString()
 * // 'id: 9:0\ndata: a\ndata: b\n\n'
 */
export function eventFrame(message: Message, id: string): Buffer {
  const head = message.event === undefined ? `id: ${id}\n` : `event: ${message.event}\nid: ${id}\n`;
  const body = message.body;
  const parts: Buffer[] = [Buffer.from(head, 'latin1')];
  let start = 0;
  for (;;) {
    const end = body.indexOf(0x0a, start);
    parts.push(DATA, body.subarray(start, end < 0 ? body.length : end), LF);
    if (end < 0) break;
    start = end + 1;
  }
  parts.push(LF);
  return Buffer.concat(parts);
}

/** The event written last, for the next subscriber of the same message and id. */
const lastFrame: { message: Message | undefined; id: string; bytes: Buffer } = {
  message: undefined,
  id: '',
  bytes: Buffer.alloc(0),
};

/** An EventSource subscriber's connection, driven by its subscription. */
export class EventSourceOutput implements SubscriptionOutput {
  readonly transport = 'eventsource';
  readonly stream = true;
  private sink: StreamSink | undefined;
  private ping: NodeJS.Timeout | undefined;
  private closeListener: (() => void) | undefined;

  /**
   * @param reply the request's answer (the raw path's or node:http's)
   * @param cors the CORS headers of the answer
   * @param pingSeconds seconds between ping events; 0: none
   */
  constructor(
    private readonly reply: Reply,
    private readonly cors: HeaderList,
    private readonly pingSeconds: number,
  ) {}

  /** `listener` runs once when the connection closes, whoever closed it. */
  onClose(listener: () => void): void {
    this.closeListener = listener;
  }

  open(): void {
    const sink = this.reply.stream?.(200, ['Content-Type', EVENT_STREAM_TYPE, ...this.cors]);
    if (!sink) throw new Error('EventSource needs a transport that can stream');
    this.sink = sink;
    // A client that left while the store was read: its close event has passed.
    if (sink.closed) {
      this.closeListener?.();
      return;
    }
    sink.onClose(() => {
      clearInterval(this.ping);
      this.closeListener?.();
    });
    sink.write(HELLO);
    if (this.pingSeconds > 0) {
      this.ping = setInterval(() => this.write(PING), this.pingSeconds * 1000);
      this.ping.unref();
    }
  }

  refuse(status: number): void {
    this.reply.send(status, this.cors);
  }

  parked(): void {}

  message(message: Message, id: MultiId): void {
    const text = formatMessageId(id);
    // Every subscriber of a channel gets the same event in a row: frame it once.
    if (message !== lastFrame.message || text !== lastFrame.id) {
      lastFrame.message = message;
      lastFrame.id = text;
      lastFrame.bytes = eventFrame(message, text);
    }
    this.write(lastFrame.bytes);
  }

  end(reason: EndReason): void {
    const sink = this.sink;
    if (!sink) {
      this.refuse(reason === 'timeout' ? 408 : reason === 'gone' ? 410 : 503);
      return;
    }
    clearInterval(this.ping);
    sink.write(ENDINGS[reason]);
    sink.end();
  }

  /** Write, or drop a reader that stopped reading. */
  private write(bytes: string | Buffer): void {
    const sink = this.sink;
    if (!sink) return;
    if (sink.buffered > STREAM_BUFFER_LIMIT) sink.destroy();
    else sink.write(bytes);
  }
}
