/**
 * The subscriber location: long-poll and interval-poll GETs, answered from a store.
 * Waiting polls are parked per channel and woken by the store's events only.
 *
 * @module
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { isTooLong } from '../../channel/id.js';
import type { ResolvedLocation } from '../../settings/index.js';
import type { PassthroughNotifier } from '../hooks/passthrough-sender.js';
import { type Cors, corsFor } from '../protocol/cors.js';
import { parseCursor, VARY } from '../protocol/cursor.js';
import { currentHttpDate, httpDate } from '../protocol/dates.js';
import type { Message, NextResult } from '../store/types.js';
import { internalError, type NodeReply, type Reply, sendText } from '../transport/reply.js';
import { type HeaderList, headStart, headTail } from '../transport/response-head.js';
import {
  NO_HEADERS,
  newWaiter,
  stopWaiter,
  type Waiter,
  type WaitingRoom,
} from './waiting-room.js';

const EXPOSE = 'Last-Modified, Etag, Content-Type, Cache-Control';
const ALLOW_HEADERS = 'If-None-Match, If-Modified-Since, Content-Type, Cache-Control';

const WAITER = Symbol('waiter');
type WaitingResponse = ServerResponse & { [WAITER]?: Waiter };
const SOCKET_WAITERS = Symbol('socketWaiters');
type PollSocket = Socket & { [SOCKET_WAITERS]?: Set<Waiter> };

/** One listener for every node:http poll (no closure per request): the answer ended or its client went away. */
function onResponseClose(this: WaitingResponse): void {
  const waiter = this[WAITER];
  if (!waiter) return;
  stopWaiter(waiter);
  (this.req.socket as PollSocket | null)?.[SOCKET_WAITERS]?.delete(waiter);
}

/**
 * node:http emits `close` only on the response it is writing: a poll pipelined behind
 * another never hears that its client went away. Its socket does.
 */
function onSocketClose(this: PollSocket): void {
  const waiters = this[SOCKET_WAITERS];
  this[SOCKET_WAITERS] = undefined;
  if (waiters) for (const waiter of waiters) stopWaiter(waiter);
}

/** What a subscriber location needs from the daemon. */
export interface SubscriberContext {
  servername: string;
  room: WaitingRoom;
  /** Notifies the app when a poll starts and stops waiting (the location's `passthrough`). */
  passthrough?: PassthroughNotifier;
}

/** One subscriber location of the settings, bound to its store's waiting room. */
export class SubscriberLocation {
  /**
   * The 200 answer of the message delivered last, for one CORS variant: built once and
   * written to every subscriber woken by that message, then dropped with the next one
   * (no per-message cache that lives as long as the buffer).
   */
  private cached: { message: Message | undefined; corsKey: string; answer: Answer | undefined } = {
    message: undefined,
    corsKey: '',
    answer: undefined,
  };
  private readonly timeoutMs: number;
  readonly passthrough: PassthroughNotifier | undefined;

  constructor(
    readonly location: ResolvedLocation,
    private readonly context: SubscriberContext,
  ) {
    this.timeoutMs = location.subscriberTimeout * 1000;
    this.passthrough = context.passthrough;
  }

  /** The waiting room of this location's store. */
  get room(): WaitingRoom {
    return this.context.room;
  }

  /**
   * Handle one node:http request for `channel` (already decoded and NUL-free).
   *
   * @param req the request
   * @param reply its response
   * @param channel decoded channel id
   */
  handle(req: IncomingMessage, reply: NodeReply, channel: string): void {
    const waiter = this.serve(req.method ?? '', req.headers, reply, channel);
    if (waiter && waiter.state !== 'done') {
      (reply.res as WaitingResponse)[WAITER] = waiter;
      reply.res.on('close', onResponseClose);
      const socket = req.socket as PollSocket;
      let waiters = socket[SOCKET_WAITERS];
      if (waiters === undefined) {
        waiters = new Set();
        socket[SOCKET_WAITERS] = waiters;
        socket.once('close', onSocketClose);
      }
      waiters.add(waiter);
    }
  }

  /**
   * Answer one request for `channel`, whatever its transport.
   *
   * @param method the request method
   * @param headers the request headers (lower-case names)
   * @param reply where the answer goes
   * @param channel decoded channel id
   * @param spare the connection's previous poll: reused for this one when it is answered
   *   (a parked poll then allocates nothing that outlives it, so garbage collection has
   *   nothing to copy or promote)
   * @returns the poll when the request is a GET that got as far as the store (it may
   *   already be answered); the caller calls {@link stopWaiter} when its client goes away
   */
  serve(
    method: string,
    headers: IncomingHttpHeaders,
    reply: Reply,
    channel: string,
    spare?: Waiter,
  ): Waiter | undefined {
    const origin = headers.origin;
    const cors = corsFor(origin, this.location);
    if (method === 'GET' && !cors.refuse && !isTooLong(channel)) {
      return this.get(
        headers,
        reply,
        channel,
        cors.headers,
        origin ?? '',
        spare?.state === 'done' ? spare : undefined,
      );
    }
    this.refuse(method, origin, reply, channel, cors);
    return undefined;
  }

  /** Answer what is not a poll: refusals, OPTIONS, other methods. */
  private refuse(
    method: string,
    origin: string | undefined,
    reply: Reply,
    channel: string,
    cors: Cors,
  ) {
    if (cors.refuse || isTooLong(channel)) return reply.send(403, cors.headers);
    if (method === 'OPTIONS') {
      const preflight =
        origin === undefined
          ? []
          : ['Access-Control-Allow-Headers', ALLOW_HEADERS, 'Access-Control-Allow-Methods', 'GET'];
      return reply.send(200, ['Allow', 'GET', ...preflight, ...cors.headers]);
    }
    // Nchan answers 403 to a publish on a subscriber location.
    if (method === 'POST') return reply.send(403, cors.headers);
    // Nchan never answers HEAD; we say what is allowed instead.
    sendText(reply, 405, 'Method Not Allowed', ['Allow', 'GET, OPTIONS', ...cors.headers]);
  }

  private get(
    headers: IncomingHttpHeaders,
    reply: Reply,
    channel: string,
    cors: HeaderList,
    corsKey: string,
    reuse: Waiter | undefined,
  ): Waiter | undefined {
    const cursor = parseCursor(
      headers['if-modified-since'],
      headers['if-none-match'] as string | undefined,
      reuse?.ownCursor,
    );
    if (cursor === 'invalid') {
      sendText(reply, 400, 'Message ID invalid', cors);
      return undefined;
    }
    const waiter = reuse ?? newWaiter(reply, this);
    waiter.reply = reply;
    // Kept only for passthrough: a parked poll holds as little as it can.
    waiter.headers = this.passthrough ? headers : NO_HEADERS;
    waiter.channel = channel;
    waiter.cursor = cursor;
    waiter.state = 'checking';
    waiter.dirty = false;
    waiter.deleted = false;
    waiter.cors = cors;
    waiter.corsKey = corsKey;
    waiter.timer = undefined;
    waiter.location = this;
    waiter.generation++;
    if (cursor !== null) waiter.ownCursor = cursor;
    this.context.room.add(waiter);
    this.check(waiter);
    return waiter;
  }

  /** Ask the store for the first message after the cursor; answer, or park the poll. */
  private check(waiter: Waiter): void {
    waiter.dirty = false;
    const store = this.context.room.store;
    // A store that needs no I/O answers at once: no promise per poll.
    if (store.nextNow) {
      this.checked(waiter, store.nextNow(waiter.channel, waiter.cursor));
      return;
    }
    const generation = waiter.generation;
    store.next(waiter.channel, waiter.cursor).then(
      (result) => {
        if (waiter.generation === generation) this.checked(waiter, result);
      },
      (error: Error) => {
        if (waiter.state === 'done' || waiter.generation !== generation) return;
        this.context.room.remove(waiter);
        sendText(waiter.reply, 503, `store unavailable: ${error.message}`);
      },
    );
  }

  private checked(waiter: Waiter, { message, exists }: NextResult) {
    try {
      if (waiter.state === 'done') return;
      if (waiter.deleted) return this.gone(waiter);
      if (message) return this.deliver(waiter, message);
      if (!exists && !this.location.createOnGet) return this.finish(waiter, 404, []);
      if (this.location.polling === 'interval') return this.notModified(waiter, exists);
      if (waiter.dirty) return this.check(waiter);
      this.park(waiter);
    } catch (error) {
      this.context.room.remove(waiter);
      internalError(waiter.reply, error);
    }
  }

  private park(waiter: Waiter): void {
    waiter.state = 'waiting';
    waiter.reply.parked();
    this.context.room.store.subscriberStarted(waiter.channel)?.catch(ignore);
    // As py-hbpush: subscribe when a poll has to wait, unsubscribe when it stops waiting.
    this.passthrough?.subscribe(waiter.channel, waiter.headers);
    if (this.timeoutMs > 0) {
      waiter.timer = setTimeout(() => this.finish(waiter, 408, []), this.timeoutMs);
    }
  }

  /** Answer `waiter` with `message` (200). */
  deliver(waiter: Waiter, message: Message): void {
    this.context.room.remove(waiter);
    const reply = waiter.reply;
    if (message.body.length <= PREBUILT_BODY_LIMIT) {
      const answer = this.answerFor(message, waiter);
      const date = currentHttpDate();
      if (answer.date !== date) rebuild(answer, message, date);
      if (reply.sendPrebuilt(answer.head, answer.bytes as Buffer)) return;
    }
    reply.send(200, this.messageHeaders(message, waiter), message.body);
  }

  /** Answer `waiter` with 410: its channel was deleted. */
  gone(waiter: Waiter): void {
    // Nchan echoes the tag the poll asked after.
    this.finish(waiter, 410, waiter.cursor ? ['Etag', String(waiter.cursor.tag)] : []);
  }

  private notModified(waiter: Waiter, exists: boolean): void {
    const cursor = waiter.cursor;
    const headers =
      cursor && exists ? ['Last-Modified', httpDate(cursor.time), 'Etag', String(cursor.tag)] : [];
    this.finish(waiter, 304, headers);
  }

  private finish(waiter: Waiter, status: number, headers: HeaderList): void {
    this.context.room.remove(waiter);
    waiter.reply.send(status, [...headers, 'Vary', VARY, ...this.exposed(waiter)]);
  }

  private exposed(waiter: Waiter): HeaderList {
    return waiter.cors.length === 0
      ? waiter.cors
      : ['Access-Control-Expose-Headers', EXPOSE, ...waiter.cors];
  }

  /** The headers of a 200 answer between `Server` and `Content-Length`. */
  private messageHeaders(message: Message, waiter: Waiter): HeaderList {
    const tag = String(message.id.tag);
    const headers: HeaderList = [];
    if (message.contentType !== null) headers.push('Content-Type', message.contentType);
    headers.push(
      'Last-Modified',
      httpDate(message.id.time),
      'Etag',
      tag,
      'Vary',
      VARY,
      // py-hbpush's header, read by old clients when Etag is not exposed to them.
      'Cache-Control',
      `etag=${tag}`,
      ...this.exposed(waiter),
    );
    return headers;
  }

  private answerFor(message: Message, waiter: Waiter): Answer {
    const cached = this.cached;
    const last = cached.message;
    // A store may hand out a new Message object for the same buffered message.
    if (
      last !== undefined &&
      cached.answer &&
      cached.corsKey === waiter.corsKey &&
      (last === message ||
        (sameBytes(last.body, message.body) &&
          last.id.time === message.id.time &&
          last.id.tag === message.id.tag &&
          last.contentType === message.contentType))
    ) {
      return cached.answer;
    }
    const headers = this.messageHeaders(message, waiter);
    const prefix = headStart(200, this.context.servername, headers, message.body.length);
    const answer: Answer = { prefix, date: '', head: '', bytes: undefined };
    cached.message = message;
    cached.corsKey = waiter.corsKey;
    cached.answer = answer;
    return answer;
  }
}

/**
 * A message's 200 answer for one CORS variant. `bytes` is the whole response
 * (status line, headers with `Date`, body), built once per `Date` second and written
 * as is to every subscriber that gets this message. Large bodies are not copied into
 * one (their headers are written the usual way).
 */
interface Answer {
  /** Status line and headers up to `Date`. */
  prefix: string;
  date: string;
  head: string;
  bytes: Buffer | undefined;
}

const PREBUILT_BODY_LIMIT = 64 * 1024;

function rebuild(answer: Answer, message: Message, date: string): void {
  const head = answer.prefix + headTail(date, true);
  const length = Buffer.byteLength(head, 'latin1');
  const bytes = Buffer.allocUnsafe(length + message.body.length);
  bytes.write(head, 0, 'latin1');
  message.body.copy(bytes, length);
  answer.date = date;
  answer.head = head;
  answer.bytes = bytes;
}

function ignore(): void {}
/** The same bytes of the same memory (a stored body read twice). */
function sameBytes(a: Buffer, b: Buffer): boolean {
  return (
    a === b || (a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.length === b.length)
  );
}
