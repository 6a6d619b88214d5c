/**
 * The subscriber location: it decides how each subscriber request is served. A plain
 * GET for one channel is a long-poll (or interval poll) answered here, parked per
 * channel and woken by the store's events only; an EventSource request, a WebSocket
 * upgrade, or a multiplexed request (`splitDelimiter`) becomes a {@link Subscription}
 * with its transport's output (`transport/eventsource.ts`, `transport/websocket.ts`,
 * or {@link PollOutput} for a multiplexed long-poll).
 *
 * @module
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { isTooLong } from '../../channel/id.js';
import { verifyChannelSignatures } from '../../channel/signature.js';
import type { ResolvedLocation } from '../../settings/index.js';
import { type AuthorizeAnswer, Authorizer } from '../hooks/authorize-request.js';
import type { PassthroughNotifier } from '../hooks/passthrough-sender.js';
import { type Cors, corsFor } from '../protocol/cors.js';
import { parseCursor, VARY } from '../protocol/cursor.js';
import { currentHttpDate, httpDate } from '../protocol/dates.js';
import {
  channelCursor,
  formatTags,
  MAX_CHANNELS,
  type MultiId,
  readMessageId,
} from '../protocol/message-id.js';
import type { Message, MessageId, NextResult } from '../store/types.js';
import { EventSourceOutput, wantsEventSource } from '../transport/eventsource.js';
import {
  consoleErrorLog,
  type ErrorLog,
  internalError,
  type NodeReply,
  type Reply,
  sendText,
} from '../transport/reply.js';
import { type HeaderList, headStart, headTail } from '../transport/response-head.js';
import type { EndReason, SubscriptionOutput } from '../transport/stream.js';
import {
  type UpgradeReply,
  type WebSocketAcceptor,
  WebSocketOutput,
} from '../transport/websocket.js';
import { Subscription } from './subscription.js';
import {
  NO_HEADERS,
  newWaiter,
  stopWaiter,
  type Waiter,
  type WaitingRoom,
} from './waiting-room.js';

const EXPOSE = 'Last-Modified, Etag, Content-Type, Cache-Control';
/** Nchan's list, X-EventSource-Event included (a fixed list, not derived from the request). */
const ALLOW_HEADERS =
  'If-None-Match, If-Modified-Since, Content-Type, Cache-Control, X-EventSource-Event';

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
  /** Completes WebSocket handshakes (one per daemon). */
  websockets?: WebSocketAcceptor;
  /** The settings' secrets, which verify signed channel ids (`signed: true`). */
  secrets?: readonly string[];
  /** Where a bug's line and a store's failure go. @default console.error */
  errorLog?: ErrorLog;
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
  /** The location serves long-polls (and interval polls). */
  private readonly polls: boolean;
  /** The location serves EventSource. */
  private readonly streams: boolean;
  readonly passthrough: PassthroughNotifier | undefined;
  /**
   * Asks the location's `authorize` URL before a subscriber is let in. The raw socket
   * path hands such a location's requests to node:http, which waits for the answer.
   */
  readonly authorizer: Authorizer | undefined;
  /** Where a bug's line and a store's failure go. */
  readonly errorLog: ErrorLog;

  constructor(
    readonly location: ResolvedLocation,
    private readonly context: SubscriberContext,
  ) {
    this.timeoutMs = location.subscriberTimeout * 1000;
    this.polls = location.transports.includes('longpoll');
    this.streams = location.transports.includes('eventsource');
    this.passthrough = context.passthrough;
    this.errorLog = context.errorLog ?? consoleErrorLog;
    this.authorizer =
      location.authorize === null
        ? undefined
        : new Authorizer({
            url: location.authorize,
            timeoutMs: location.authorizeTimeout * 1000,
            concurrency: location.authorizeConcurrency,
          });
  }

  /** Stop asking `authorize`: subscribers still waiting for it get 503. */
  close(): void {
    this.authorizer?.close();
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
    const authorizer = this.authorizer;
    // Refusals and preflights are answered without asking the app (Nchan does not either).
    if (authorizer && this.admits(req.method ?? '', req.headers, channel, req.url ?? '')) {
      const cors = corsFor(req.headers.origin, this.location).headers;
      authorizer.ask(req.method ?? '', req.url ?? '', req.headers).then((answer) => {
        // The subscriber went away while the app was asked.
        if (reply.res.destroyed || reply.res.writableEnded) return;
        try {
          if (answer.allowed) this.serveNode(req, reply, channel);
          else {
            const stream = wantsEventSource(req.headers) && this.streams;
            this.refuseUnauthorized(reply, answer, cors, stream ? 'eventsource' : this.pollName);
          }
        } catch (error) {
          internalError(reply, error, this.errorLog);
        }
      });
      return;
    }
    this.serveNode(req, reply, channel);
  }

  /** {@link handle} once the subscriber is let in: serve it, and stop its poll when its client goes. */
  private serveNode(req: IncomingMessage, reply: NodeReply, channel: string): void {
    const waiter = this.serve(req.method ?? '', req.headers, reply, channel, undefined, req.url);
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
   * @param url the request target (its query may carry `last_event_id`)
   * @returns the poll when the request is a GET that got as far as the store (it may
   *   already be answered); the caller calls {@link stopWaiter} when its client goes away
   */
  serve(
    method: string,
    headers: IncomingHttpHeaders,
    reply: Reply,
    channel: string,
    spare?: Waiter,
    url = '',
  ): Waiter | undefined {
    const origin = headers.origin;
    const cors = corsFor(origin, this.location);
    const stream = wantsEventSource(headers);
    if (method !== 'GET' || cors.refuse || isTooLong(channel)) {
      if (method === 'GET') reply.transport(stream ? 'eventsource' : this.pollName);
      this.refuse(method, origin, reply, channel, cors);
      return undefined;
    }
    const eventsource = stream && this.streams;
    if (!eventsource && !this.polls) {
      // Nchan: a GET no enabled subscriber type takes is forbidden.
      reply.transport(`${stream ? 'eventsource' : this.pollName}, not enabled`);
      reply.send(403, cors.headers);
      return undefined;
    }
    const delimiter = this.location.splitDelimiter;
    if (this.location.signed) {
      const problem = this.signatureProblem(channel, url);
      if (problem !== undefined) {
        reply.transport(eventsource ? 'eventsource' : this.pollName);
        sendText(reply, 403, `Forbidden: ${problem}`, cors.headers);
        return undefined;
      }
    }
    if (!stream && (delimiter === null || !channel.includes(delimiter))) {
      reply.transport(this.pollName);
      return this.get(
        headers,
        reply,
        channel,
        cors.headers,
        origin ?? '',
        spare?.state === 'done' && spare.owner === undefined ? spare : undefined,
        url,
      );
    }
    // An EventSource request where EventSource is off is a long-poll, as in Nchan; the log says so.
    reply.transport(
      eventsource
        ? 'eventsource'
        : stream
          ? `${this.pollName}, eventsource not enabled`
          : this.pollName,
    );
    const request = this.readRequest(channel, headers, url, reply, cors.headers);
    if (request === undefined) return undefined;
    if (eventsource) {
      const output = new EventSourceOutput(
        reply,
        cors.headers,
        this.location.eventsourcePingInterval,
      );
      const subscription = this.subscribe(request, output, headers);
      output.onClose(() => subscription.stop());
      subscription.start();
      return undefined;
    }
    if (request.channels.length === 1) {
      return this.get(headers, reply, channel, cors.headers, origin ?? '', undefined, url);
    }
    const subscription = this.subscribe(
      request,
      new PollOutput(this, reply, cors.headers),
      headers,
    );
    subscription.start();
    return subscription.state === 'done' ? undefined : subscription.links[0];
  }

  /**
   * The channels of a request (split at `splitDelimiter`) and the id it resumes from,
   * or undefined once it is answered: 403 beyond 255 channels, 400 for a bad id.
   */
  private readRequest(
    channel: string,
    headers: IncomingHttpHeaders,
    url: string,
    reply: Reply,
    cors: HeaderList,
  ): { channels: string[]; id: MultiId | null } | undefined {
    const delimiter = this.location.splitDelimiter;
    const channels = delimiter === null ? [channel] : channel.split(delimiter);
    // Nchan's limit; its answer is an empty 403.
    if (channels.length > MAX_CHANNELS) {
      reply.send(403, cors);
      return undefined;
    }
    const id = readMessageId(headers, queryOf(url), channels.length);
    if (id === 'invalid') {
      sendText(reply, 400, 'Message ID invalid', cors);
      return undefined;
    }
    return { channels, id };
  }

  /**
   * Answer a WebSocket upgrade for `channel` (node:http's `upgrade` event).
   *
   * @param req the upgrade request
   * @param socket its connection
   * @param head bytes received after the request's head
   * @param reply answers refusals on the socket
   * @param channel decoded channel id
   */
  upgrade(
    req: IncomingMessage,
    socket: Socket,
    head: Buffer,
    reply: UpgradeReply,
    channel: string,
  ): void {
    const authorizer = this.authorizer;
    if (authorizer && this.admitsUpgrade(req.headers, channel, req.url ?? '')) {
      const cors = corsFor(req.headers.origin, this.location).headers;
      reply.transport('websocket');
      authorizer.ask(req.method ?? '', req.url ?? '', req.headers).then((answer) => {
        if (socket.destroyed) return;
        try {
          if (answer.allowed) this.upgradeAdmitted(req, socket, head, reply, channel);
          else this.refuseUnauthorized(reply, answer, cors, 'websocket');
        } catch (error) {
          internalError(reply, error, this.errorLog);
        }
      });
      return;
    }
    this.upgradeAdmitted(req, socket, head, reply, channel);
  }

  private upgradeAdmitted(
    req: IncomingMessage,
    socket: Socket,
    head: Buffer,
    reply: UpgradeReply,
    channel: string,
  ): void {
    const headers = req.headers;
    const cors = corsFor(headers.origin, this.location);
    reply.transport('websocket');
    if (
      cors.refuse ||
      isTooLong(channel) ||
      !this.location.transports.includes('websocket') ||
      !this.context.websockets
    ) {
      // Nchan refuses a WebSocket where it does not serve one with an empty 403.
      reply.send(403, cors.headers);
      return;
    }
    if (this.location.signed) {
      const problem = this.signatureProblem(channel, req.url ?? '');
      if (problem !== undefined) {
        sendText(reply, 403, `Forbidden: ${problem}`, cors.headers);
        return;
      }
    }
    const request = this.readRequest(channel, headers, req.url ?? '', reply, cors.headers);
    if (request === undefined) return;
    const output = new WebSocketOutput(this.context.websockets, {
      req,
      socket,
      head,
      reply,
      cors: cors.headers,
      pingSeconds: this.location.websocketPingInterval,
    });
    const subscription = this.subscribe(request, output, headers);
    output.onClose(() => subscription.stop());
    subscription.start();
  }

  /**
   * Why the signatures of a request for `channel` (every channel of a multiplexed one)
   * do not let it in, or undefined when they do.
   */
  private signatureProblem(channel: string, url: string): string | undefined {
    const delimiter = this.location.splitDelimiter;
    const channels = delimiter === null ? [channel] : channel.split(delimiter);
    return verifyChannelSignatures(channels, queryOf(url), this.context.secrets ?? []);
  }

  /**
   * Whether {@link serve} would take this request as a subscriber (no refusal of its
   * own): only those are worth asking `authorize` about.
   */
  private admits(
    method: string,
    headers: IncomingHttpHeaders,
    channel: string,
    url: string,
  ): boolean {
    if (method !== 'GET' || isTooLong(channel) || corsFor(headers.origin, this.location).refuse)
      return false;
    if (!this.polls && !(this.streams && wantsEventSource(headers))) return false;
    return !this.location.signed || this.signatureProblem(channel, url) === undefined;
  }

  /** As {@link admits}, for a WebSocket upgrade. */
  private admitsUpgrade(headers: IncomingHttpHeaders, channel: string, url: string): boolean {
    if (
      isTooLong(channel) ||
      corsFor(headers.origin, this.location).refuse ||
      !this.location.transports.includes('websocket') ||
      !this.context.websockets
    )
      return false;
    return !this.location.signed || this.signatureProblem(channel, url) === undefined;
  }

  /** Send the app's refusal (its status, Content-Type, WWW-Authenticate and body) on. */
  private refuseUnauthorized(
    reply: Reply,
    answer: AuthorizeAnswer,
    cors: HeaderList,
    transport: string,
  ): void {
    reply.transport(`${transport}, unauthorized`);
    // Nchan answers a poll's refusal with its Vary, a stream's without.
    const vary = transport.endsWith('poll') ? ['Vary', VARY] : [];
    reply.send(answer.status, [...answer.headers, ...vary, ...cors], answer.body);
  }

  /** The log's name of this location's polls. */
  private get pollName(): string {
    return this.location.polling === 'interval' ? 'intervalpoll' : 'longpoll';
  }

  private subscribe(
    { channels, id }: { channels: string[]; id: MultiId | null },
    output: SubscriptionOutput,
    headers: IncomingHttpHeaders,
  ): Subscription {
    return new Subscription(channels, id, output, this.passthrough ? headers : NO_HEADERS, {
      room: this.context.room,
      location: this,
      timeoutSeconds: this.location.subscriberTimeout,
      createOnGet: this.location.createOnGet,
      interval: this.location.polling === 'interval',
    });
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
    url: string,
  ): Waiter | undefined {
    const ims = headers['if-modified-since'];
    let cursor = parseCursor(ims, headers['if-none-match'] as string | undefined, reuse?.ownCursor);
    // Without a date, a compound If-None-Match, Last-Event-ID or ?last_event_id= may name the message.
    if (cursor === null && ims === undefined) cursor = idCursor(headers, url);
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
      internalError(waiter.reply, error, this.errorLog);
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
    reply.send(200, this.messageHeaders(message, waiter.cors), message.body);
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
    waiter.reply.send(status, [...headers, 'Vary', VARY, ...exposed(waiter.cors)]);
  }

  /**
   * The headers of a 200 answer between `Server` and `Content-Length`.
   *
   * @param message the message answered
   * @param cors the request's CORS headers (exposing the cache headers)
   * @param tag the `Etag`: the message's tag, or a multiplexed subscriber's tags
   */
  messageHeaders(message: Message, cors: HeaderList, tag = String(message.id.tag)): HeaderList {
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
      ...exposed(cors),
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
    const headers = this.messageHeaders(message, waiter.cors);
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

/**
 * A multiplexed long-poll's answer: the first message of any of its channels (its
 * `Etag` the subscriber's tags, `[0],-`), or 410 / 408 / 503 as a single poll.
 */
class PollOutput implements SubscriptionOutput {
  readonly transport = 'longpoll';
  readonly stream = false;

  constructor(
    private readonly location: SubscriberLocation,
    private readonly reply: Reply,
    private readonly cors: HeaderList,
  ) {}

  open(): void {}

  parked(): void {
    this.reply.parked();
  }

  refuse(status: number): void {
    this.reply.send(status, ['Vary', VARY, ...exposed(this.cors)]);
  }

  message(message: Message, id: MultiId): void {
    const headers = this.location.messageHeaders(message, this.cors, formatTags(id));
    this.reply.send(200, headers, message.body);
  }

  end(reason: EndReason, id: MultiId): void {
    if (reason === 'shutdown') {
      sendText(this.reply, 503, 'push server shutting down', ['Connection', 'close']);
      return;
    }
    if (reason === 'not-modified') {
      // As a single interval poll: the asked id, when there is one.
      const asked = id.time > 0 ? ['Last-Modified', httpDate(id.time), 'Etag', formatTags(id)] : [];
      this.reply.send(304, [...asked, 'Vary', VARY, ...exposed(this.cors)]);
      return;
    }
    const etag = reason === 'gone' && id.time > 0 ? ['Etag', formatTags(id)] : [];
    this.reply.send(reason === 'gone' ? 410 : 408, [...etag, 'Vary', VARY, ...exposed(this.cors)]);
  }
}

/** `Access-Control-Expose-Headers` before the CORS headers of a request with an Origin. */
function exposed(cors: HeaderList): HeaderList {
  return cors.length === 0 ? cors : ['Access-Control-Expose-Headers', EXPOSE, ...cors];
}

/** The query string of a request target ('' when none). */
function queryOf(url: string): string {
  const mark = url.indexOf('?');
  return mark < 0 ? '' : url.slice(mark + 1);
}

/** A single-channel poll's cursor from a compound id (`If-None-Match`, `Last-Event-ID`, `?last_event_id=`). */
function idCursor(headers: IncomingHttpHeaders, url: string): MessageId | null | 'invalid' {
  if (
    headers['if-none-match'] === undefined &&
    headers['last-event-id'] === undefined &&
    !url.includes('last_event_id=')
  ) {
    return null;
  }
  const id = readMessageId(headers, queryOf(url), 1);
  return id === null || id === 'invalid' ? id : channelCursor(id, 0);
}

function ignore(): void {}
/** The same bytes of the same memory (a stored body read twice). */
function sameBytes(a: Buffer, b: Buffer): boolean {
  return (
    a === b || (a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.length === b.length)
  );
}
