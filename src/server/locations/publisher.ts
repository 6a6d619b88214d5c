/**
 * The publisher location: POST/PUT publish a message, GET reports channel info,
 * DELETE deletes the channel, OPTIONS lists the methods; the rest is 405.
 *
 * @module
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { isTooLong } from '../../channel/id.js';
import type { ResolvedLocation } from '../../settings/index.js';
import { infoBody } from '../protocol/channel-info.js';
import { corsFor } from '../protocol/cors.js';
import type { ChannelInfo, NewMessage, PublishResult, Store } from '../store/types.js';
import {
  type ErrorLog,
  internalError,
  type NodeReply,
  type Reply,
  sendText,
} from '../transport/reply.js';
import type { HeaderList } from '../transport/response-head.js';

const METHODS = 'GET, POST, PUT, DELETE';
const EMPTY = Buffer.alloc(0);

/** What a publisher location needs from the daemon. */
export interface PublisherContext {
  servername: string;
  store: Store;
  /** Whether a client address may publish (`publisherAllow`). */
  mayPublish: (address: string | undefined) => boolean;
  /** Counts the publishes (the status location, and a clean shutdown waits for those in flight). */
  counters?: PublishCounters;
  /** Where a bug's line goes. @default console.error */
  errorLog?: ErrorLog;
}

/** Publishes of a daemon, counted by its publisher locations. */
export interface PublishCounters {
  /** Messages stored since the daemon started (Nchan's "total published messages"). */
  published: number;
  /** Publishes whose store has not answered yet. */
  inFlight: number;
}

const MAY_PUBLISH = Symbol('mayPublish');

/**
 * Whether the client of `socket` may publish, asked once per connection (the address
 * of a connection does not change, and the range check is not free).
 */
export function mayPublishFrom(
  socket: Socket,
  mayPublish: (address: string | undefined) => boolean,
): boolean {
  const cached = socket as Socket & { [MAY_PUBLISH]?: boolean };
  let allowed = cached[MAY_PUBLISH];
  if (allowed === undefined) {
    allowed = mayPublish(socket.remoteAddress);
    cached[MAY_PUBLISH] = allowed;
  }
  return allowed;
}

/** One publisher location of the settings, bound to its store. */
export class PublisherLocation {
  constructor(
    readonly location: ResolvedLocation,
    private readonly context: PublisherContext,
  ) {}

  /**
   * Handle one node:http request for `channel` (already decoded and NUL-free): read
   * the body of a publish, then answer as {@link serve}.
   *
   * @param req the request
   * @param reply its response
   * @param channel decoded channel id
   */
  handle(req: IncomingMessage, reply: NodeReply, channel: string) {
    const method = req.method ?? '';
    const allowed = mayPublishFrom(req.socket, this.context.mayPublish);
    const publishing = method === 'POST' || method === 'PUT';
    if (!publishing || !this.accepts(allowed, req.headers, channel)) {
      return this.serve(method, req.headers, req.socket, reply, channel, EMPTY);
    }
    const limit = this.location.maxBodySize;
    const tooLarge = () =>
      sendText(reply, 413, `message body is larger than maxBodySize (${limit} bytes)`, [
        'Connection',
        'close',
        ...corsFor(req.headers.origin, this.location).headers,
      ]);
    if (Number(req.headers['content-length']) > limit) return tooLarge();
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      if (size > limit) return;
      size += chunk.length;
      // The answer goes out at once; `Connection: close` ends the connection after it,
      // whatever the client still sends.
      if (size > limit) tooLarge();
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > limit) return;
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
      // In an event listener: a bug thrown here would reach no other catch.
      try {
        this.serve(method, req.headers, req.socket, reply, channel, body);
      } catch (error) {
        internalError(reply, error, this.context.errorLog);
      }
    });
  }

  /**
   * Whether a publish from a client (`allowed`: its address may publish) would reach the
   * store, i.e. is worth reading its body.
   */
  accepts(allowed: boolean, headers: IncomingHttpHeaders, channel: string): boolean {
    return allowed && !corsFor(headers.origin, this.location).refuse && !isTooLong(channel);
  }

  /**
   * Answer one request for `channel`, whatever its transport, its body already read.
   *
   * @param method the request method
   * @param headers the request headers (lower-case names)
   * @param socket the client's connection (who may publish)
   * @param reply where the answer goes
   * @param channel decoded channel id
   * @param body the request body (a publish's message)
   */
  serve(
    method: string,
    headers: IncomingHttpHeaders,
    socket: Socket,
    reply: Reply,
    channel: string,
    body: Buffer,
  ) {
    if (!mayPublishFrom(socket, this.context.mayPublish)) {
      return sendText(
        reply,
        403,
        `publishing is not allowed from ${socket.remoteAddress}; add it to the publisherAllow setting`,
      );
    }
    const cors = corsFor(headers.origin, this.location);
    if (cors.refuse || isTooLong(channel)) return reply.send(403, cors.headers);
    const store = this.context.store;
    switch (method) {
      case 'POST':
      case 'PUT':
        return this.publish(headers, reply, channel, cors.headers, body);
      case 'GET':
        return this.answerInfo(headers, reply, store.info(channel), cors.headers);
      case 'DELETE':
        return this.answerInfo(headers, reply, store.delete(channel), cors.headers);
      case 'OPTIONS': {
        const preflight =
          headers.origin === undefined
            ? []
            : [
                'Access-Control-Allow-Headers',
                'Content-Type',
                'Access-Control-Allow-Methods',
                METHODS,
              ];
        return reply.send(200, ['Allow', METHODS, ...preflight, ...cors.headers]);
      }
      default:
        // Nchan never answers HEAD or PATCH here; we say what is allowed instead.
        sendText(reply, 405, 'Method Not Allowed', [
          'Allow',
          `${METHODS}, OPTIONS`,
          ...cors.headers,
        ]);
    }
  }

  private publish(
    headers: IncomingHttpHeaders,
    reply: Reply,
    channel: string,
    cors: HeaderList,
    body: Buffer,
  ) {
    const store = this.context.store;
    const key = headers['idempotency-key'];
    const event = headers['x-eventsource-event'];
    const message: NewMessage = {
      contentType: headers['content-type'] ?? null,
      body,
      // Nchan keeps the header with the message for its EventSource subscribers.
      event: typeof event === 'string' && event !== '' ? event : undefined,
      idempotencyKey: typeof key === 'string' && key !== '' ? key : undefined,
    };
    const options = { create: this.location.createOnPost };
    // A store that needs no I/O answers at once: no promise per publish.
    if (store.publishNow)
      return this.published(headers, reply, cors, store.publishNow(channel, message, options));
    const counters = this.context.counters;
    if (counters) counters.inFlight++;
    store.publish(channel, message, options).then(
      (result) => {
        if (counters) counters.inFlight--;
        this.published(headers, reply, cors, result);
      },
      (error: Error) => {
        if (counters) counters.inFlight--;
        this.storeFailed(reply, error);
      },
    );
  }

  private published(
    headers: IncomingHttpHeaders,
    reply: Reply,
    cors: HeaderList,
    result: PublishResult | undefined,
  ) {
    try {
      if (!result) return reply.send(404, cors);
      if (this.context.counters) this.context.counters.published++;
      const status = result.info.subscribers > 0 ? 201 : 202;
      this.sendInfo(headers, reply, status, result.info, cors);
    } catch (error) {
      internalError(reply, error, this.context.errorLog);
    }
  }

  private answerInfo(
    headers: IncomingHttpHeaders,
    reply: Reply,
    pending: Promise<ChannelInfo | undefined>,
    cors: HeaderList,
  ) {
    pending
      .then(
        (info) => {
          if (!info) return reply.send(404, cors);
          this.sendInfo(headers, reply, 200, info, cors);
        },
        (error: Error) => this.storeFailed(reply, error),
      )
      .catch((error) => internalError(reply, error, this.context.errorLog));
  }

  private sendInfo(
    headers: IncomingHttpHeaders,
    reply: Reply,
    status: number,
    info: ChannelInfo,
    cors: HeaderList,
  ): void {
    const { type, body } = infoBody(info, headers.accept);
    reply.send(status, ['Content-Type', type, ...cors], body);
  }

  private storeFailed(reply: Reply, error: Error): void {
    if (!reply.headersSent) sendText(reply, 503, `store unavailable: ${error.message}`);
  }
}
