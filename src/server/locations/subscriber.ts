/**
 * The subscriber location: long-poll and interval-poll GETs, answered from a store.
 * Waiting polls are parked per channel and woken by the store's events only.
 *
 * @module
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { ResolvedLocation } from '../../settings/index.js';
import type { PassthroughNotifier } from '../hooks/passthrough-sender.js';
import {
  type Cors,
  corsFor,
  currentHttpDate,
  type HeaderList,
  httpDate,
  internalError,
  isTooLong,
  NodeReply,
  parseCursor,
  type Reply,
  sendText,
  VARY,
} from '../protocol/http.js';
import {
  compareIds,
  type Message,
  type MessageId,
  type NextResult,
  type Store,
  type StoreEvent,
} from '../store/types.js';

const NO_HEADERS: IncomingHttpHeaders = {};
const EXPOSE = 'Last-Modified, Etag, Content-Type, Cache-Control';
const ALLOW_HEADERS = 'If-None-Match, If-Modified-Since, Content-Type, Cache-Control';

/** One poll, from its arrival until it is answered. */
export interface Waiter {
  reply: Reply;
  /** The request's headers, forwarded with passthrough notifications. */
  headers: IncomingHttpHeaders;
  channel: string;
  cursor: MessageId | null;
  /** `checking`: asking the store; `waiting`: parked and counted; `done`: answered. */
  state: 'checking' | 'waiting' | 'done';
  /** A message arrived while checking: ask the store again before parking. */
  dirty: boolean;
  /** The channel was deleted while checking. */
  deleted: boolean;
  cors: HeaderList;
  corsKey: string;
  timer: NodeJS.Timeout | undefined;
  location: SubscriberLocation;
  /** Counts the polls this object served (it is reused); a store answer for an earlier one is dropped. */
  generation: number;
  /** The cursor object this waiter owns, filled in again by its next poll. */
  ownCursor: { time: number; tag: number } | undefined;
  /** The channel's list this waiter is in (see {@link WaitingRoom}), and its neighbours there. */
  list: Waiters | undefined;
  previous: Waiter | undefined;
  next: Waiter | undefined;
}

/**
 * A channel's waiters, linked through the waiters themselves, oldest first: a poll
 * joins and leaves it without allocating (a Set reallocates its table as it empties
 * with every message and fills again with the re-polls).
 */
interface Waiters {
  first: Waiter | undefined;
  last: Waiter | undefined;
  size: number;
}

const WAITER = Symbol('waiter');
type WaitingResponse = ServerResponse & { [WAITER]?: Waiter };

/** One listener for every node:http poll (no closure per request): the client went away. */
function onResponseClose(this: WaitingResponse): void {
  const waiter = this[WAITER];
  if (waiter) stopWaiter(waiter);
}

/**
 * The client of `waiter` went away: forget the poll (and tell the store and the
 * passthrough app, when it was parked). Nothing when it was already answered.
 */
export function stopWaiter(waiter: Waiter): void {
  if (waiter.state !== 'done') waiter.location.room.remove(waiter);
}

/**
 * The parked polls of one store, by channel. It listens to the store's events and
 * answers the polls they concern.
 */
export class WaitingRoom {
  private readonly channels = new Map<string, Waiters>();
  /**
   * Lists left empty in `channels`. A channel's list empties with every message and
   * fills again with the re-polls: it stays, so the map is not rebuilt all the time, and
   * the empty ones are dropped once they are many.
   */
  private empty = 0;
  private readonly unlisten: () => void;

  /** @param store the store whose events wake the polls parked here */
  constructor(readonly store: Store) {
    this.unlisten = store.onEvent((event) => this.onEvent(event));
  }

  /** Number of polls parked or being checked. */
  get size(): number {
    let count = 0;
    for (const waiters of this.channels.values()) count += waiters.size;
    return count;
  }

  /** A poll arrived: events for its channel now reach it (it is being checked, not yet counted). */
  add(waiter: Waiter): void {
    let waiters = this.channels.get(waiter.channel);
    if (!waiters) {
      waiters = { first: undefined, last: undefined, size: 0 };
      this.channels.set(waiter.channel, waiters);
    } else if (waiters.size === 0) {
      this.empty--;
    }
    waiter.list = waiters;
    waiter.previous = waiters.last;
    waiter.next = undefined;
    if (waiters.last) waiters.last.next = waiter;
    else waiters.first = waiter;
    waiters.last = waiter;
    waiters.size++;
  }

  /** Forget `waiter`; when it was parked, tell the store it stopped waiting. */
  remove(waiter: Waiter): void {
    const waiters = waiter.list;
    if (waiters) {
      // `waiter.next` stays: an event going through the list goes on from there.
      if (waiter.previous) waiter.previous.next = waiter.next;
      else waiters.first = waiter.next;
      if (waiter.next) waiter.next.previous = waiter.previous;
      else waiters.last = waiter.previous;
      waiter.list = undefined;
      waiter.previous = undefined;
      if (--waiters.size === 0 && ++this.empty > 1024) this.dropEmpty();
    }
    if (waiter.timer) clearTimeout(waiter.timer);
    const wasWaiting = waiter.state === 'waiting';
    waiter.state = 'done';
    if (wasWaiting) {
      this.store.subscriberStopped(waiter.channel)?.catch(ignore);
      waiter.location.passthrough?.unsubscribe(waiter.channel, waiter.headers);
    }
  }

  private dropEmpty(): void {
    if (this.empty * 2 < this.channels.size) return;
    for (const [channel, waiters] of this.channels) {
      if (waiters.size === 0) this.channels.delete(channel);
    }
    this.empty = 0;
  }

  /** Answer every parked poll with 503 and `Connection: close` (the daemon is stopping). */
  closeAll(): void {
    const all: Waiter[] = [];
    for (const waiters of this.channels.values()) {
      for (let waiter = waiters.first; waiter; waiter = waiter.next) all.push(waiter);
    }
    for (const waiter of all) {
      this.remove(waiter);
      sendText(waiter.reply, 503, 'push server shutting down', ['Connection', 'close']);
    }
    this.unlisten();
  }

  private onEvent(event: StoreEvent): void {
    const waiters = this.channels.get(event.channel);
    if (!waiters) return;
    // Answering a waiter removes it; its `next` stays set for this loop.
    for (let waiter = waiters.first; waiter; waiter = waiter.next) {
      if (event.type === 'delete') {
        if (waiter.state === 'checking') waiter.deleted = true;
        else waiter.location.gone(waiter);
      } else if (waiter.state === 'checking') {
        waiter.dirty = true;
      } else if (waiter.cursor === null || compareIds(event.message.id, waiter.cursor) > 0) {
        // A parked poll had nothing after its cursor, so this message is the first one.
        waiter.location.deliver(waiter, event.message);
      }
    }
  }
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
   * @param res its response
   * @param channel decoded channel id
   */
  handle(req: IncomingMessage, res: ServerResponse, channel: string): void {
    const waiter = this.serve(
      req.method ?? '',
      req.headers,
      new NodeReply(res, this.context.servername),
      channel,
    );
    if (waiter && waiter.state !== 'done') {
      (res as WaitingResponse)[WAITER] = waiter;
      res.on('close', onResponseClose);
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
    let prefix = `HTTP/1.1 200 OK\r\nServer: ${this.context.servername}\r\n`;
    for (let i = 0; i < headers.length; i += 2) prefix += `${headers[i]}: ${headers[i + 1]}\r\n`;
    prefix += `Content-Length: ${message.body.length}\r\n`;
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
  const head = `${answer.prefix}Date: ${date}\r\nConnection: keep-alive\r\n\r\n`;
  const length = Buffer.byteLength(head, 'latin1');
  const bytes = Buffer.allocUnsafe(length + message.body.length);
  bytes.write(head, 0, 'latin1');
  message.body.copy(bytes, length);
  answer.date = date;
  answer.head = head;
  answer.bytes = bytes;
}

function ignore(): void {}

/** A waiter with every field, for {@link SubscriberLocation}'s `get` to fill in. */
function newWaiter(reply: Reply, location: SubscriberLocation): Waiter {
  return {
    reply,
    headers: NO_HEADERS,
    channel: '',
    cursor: null,
    state: 'done',
    dirty: false,
    deleted: false,
    cors: [],
    corsKey: '',
    timer: undefined,
    location,
    generation: 0,
    ownCursor: undefined,
    list: undefined,
    previous: undefined,
    next: undefined,
  };
}

/** The same bytes of the same memory (a stored body read twice). */
function sameBytes(a: Buffer, b: Buffer): boolean {
  return (
    a === b || (a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.length === b.length)
  );
}
