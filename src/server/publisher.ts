/**
 * The publisher location: POST/PUT publish a message, GET reports channel info,
 * DELETE deletes the channel, OPTIONS lists the methods; the rest is 405.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResolvedLocation } from '../settings.js';
import {
  corsFor,
  type HeaderList,
  infoBody,
  internalError,
  isTooLong,
  send,
  sendText,
} from './http.js';
import type { ChannelInfo, Store } from './store.js';

const METHODS = 'GET, POST, PUT, DELETE';

/** What a publisher location needs from the daemon. */
export interface PublisherContext {
  servername: string;
  store: Store;
  /** Whether a client address may publish (`publisherAllow`). */
  mayPublish: (address: string | undefined) => boolean;
}

/** One publisher location of the settings, bound to its store. */
export class PublisherLocation {
  constructor(
    readonly location: ResolvedLocation,
    private readonly context: PublisherContext,
  ) {}

  /**
   * Handle one request for `channel` (already decoded and length-checked).
   *
   * @param req the request
   * @param res its response
   * @param channel decoded channel id
   */
  handle(req: IncomingMessage, res: ServerResponse, channel: string) {
    const { servername, mayPublish } = this.context;
    if (!mayPublish(req.socket.remoteAddress)) {
      return sendText(
        res,
        servername,
        403,
        `publishing is not allowed from ${req.socket.remoteAddress}; add it to the publisherAllow setting`,
      );
    }
    const cors = corsFor(req.headers.origin, this.location);
    if (cors.refuse || isTooLong(channel)) return send(res, servername, 403, cors.headers);
    switch (req.method) {
      case 'POST':
      case 'PUT':
        return this.publish(req, res, channel, cors.headers);
      case 'GET':
        return this.answerInfo(req, res, this.context.store.info(channel), cors.headers);
      case 'DELETE':
        return this.answerInfo(req, res, this.context.store.delete(channel), cors.headers);
      case 'OPTIONS': {
        const preflight =
          req.headers.origin === undefined
            ? []
            : [
                'Access-Control-Allow-Headers',
                'Content-Type',
                'Access-Control-Allow-Methods',
                METHODS,
              ];
        return send(res, servername, 200, ['Allow', METHODS, ...preflight, ...cors.headers]);
      }
      default:
        // Nchan never answers HEAD or PATCH here; we say what is allowed instead.
        sendText(res, servername, 405, 'Method Not Allowed', [
          'Allow',
          `${METHODS}, OPTIONS`,
          ...cors.headers,
        ]);
    }
  }

  private publish(req: IncomingMessage, res: ServerResponse, channel: string, cors: HeaderList) {
    const { servername, store } = this.context;
    const limit = this.location.maxBodySize;
    const tooLarge = () =>
      sendText(res, servername, 413, `message body is larger than maxBodySize (${limit} bytes)`, [
        'Connection',
        'close',
        ...cors,
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
      const contentType = req.headers['content-type'] ?? null;
      store
        .publish(channel, { contentType, body }, { create: this.location.createOnPost })
        .then(
          (result) => {
            if (!result) return send(res, servername, 404, cors);
            const status = result.info.subscribers > 0 ? 201 : 202;
            this.sendInfo(req, res, status, result.info, cors);
          },
          (error: Error) => this.storeFailed(res, error),
        )
        .catch((error) => internalError(res, servername, error));
    });
  }

  private answerInfo(
    req: IncomingMessage,
    res: ServerResponse,
    pending: Promise<ChannelInfo | undefined>,
    cors: HeaderList,
  ) {
    pending
      .then(
        (info) => {
          if (!info) return send(res, this.context.servername, 404, cors);
          this.sendInfo(req, res, 200, info, cors);
        },
        (error: Error) => this.storeFailed(res, error),
      )
      .catch((error) => internalError(res, this.context.servername, error));
  }

  private sendInfo(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    info: ChannelInfo,
    cors: HeaderList,
  ): void {
    const { type, body } = infoBody(info, req.headers.accept);
    send(res, this.context.servername, status, ['Content-Type', type, ...cors], body);
  }

  private storeFailed(res: ServerResponse, error: Error): void {
    if (!res.headersSent)
      sendText(res, this.context.servername, 503, `store unavailable: ${error.message}`);
  }
}
