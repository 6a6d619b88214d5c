/**
 * What the publisher's API takes and gives: call options, results, the events of the
 * `preSendUpdate` / `postSendUpdate` signals, and the {@link Publisher} interface.
 *
 * @module
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ChannelInfo } from '../channel/info.js';
import type { PublishError } from '../errors.js';

/**
 * Options of one `sendUpdate` call.
 *
 * @example await sendUpdate('room-1', '{"type":"ping"}', { alreadySerialized: true, timeout: 1000 });
 */
export interface SendUpdateOptions {
  /** `data` is already a JSON string (or Buffer) and is sent as is. @default false */
  alreadySerialized?: boolean;
  /** Resolve with the error in the result instead of throwing. @default settings.ignoreErrors */
  ignoreErrors?: boolean;
  /** Milliseconds to wait for the daemon. @default settings.publishTimeout (5000) */
  timeout?: number;
  /** Abort the request. */
  signal?: AbortSignal;
  /** Content-Type of the message. @default 'application/json; charset=utf-8' */
  contentType?: string;
  /**
   * Sent as `Idempotency-Key`: a daemon with the Redis store stores a publish with a
   * key it has seen on that channel within the hour once, so a publish in doubt can be
   * sent again. 1 to 255 visible ASCII characters. Nchan and the memory store ignore it.
   */
  idempotencyKey?: string;
}

/**
 * What a publish did.
 *
 * @example const { delivered, channel } = await sendUpdate('room-1', { type: 'ping' });
 */
export interface SendUpdateResult {
  /** The daemon accepted the message (201 or 202). */
  ok: boolean;
  /** 201: at least one subscriber was waiting and got it. */
  delivered: boolean;
  /** 202: nobody was waiting; the message is queued for the next poll. */
  queued: boolean;
  /** HTTP status, when the daemon answered. */
  status?: number;
  /** Channel info, when the daemon sent it. */
  channel?: ChannelInfo;
  /** The channel's publisher URL the message was posted to. */
  url: string;
  /** The failure, when `ignoreErrors` turned it into a result. */
  error?: PublishError;
}

/** The request a publish sends, as the signals report it. */
export interface PublishRequest {
  method: 'POST';
  /** The channel's publisher URL; a `preSendUpdate` listener may change it. */
  url: string;
  /** `Content-Type`, `Content-Length`, `Accept` (and `Idempotency-Key`); a listener may add some. */
  headers: Record<string, string>;
  body: Buffer;
}

/** The daemon's answer, as the signals report it. */
export interface PublishResponse {
  status: number;
  /** As node:http's `IncomingMessage.headers` has them. */
  headers: IncomingHttpHeaders;
  /** Decoded as UTF-8. */
  body: string;
}

/**
 * Payload of `preSendUpdate`.
 *
 * @example signals.on('preSendUpdate', ({ request }) => { request.headers.Authorization = token; });
 */
export interface PreSendUpdateEvent {
  channelId: string;
  /** As given to `sendUpdate`. */
  data: unknown;
  alreadySerialized: boolean;
  request: PublishRequest;
}

/**
 * Payload of `postSendUpdate`: `response` when the daemon answered, `error` when it failed.
 *
 * @example signals.on('postSendUpdate', ({ channelId, result }) => log(channelId, result.status));
 */
export interface PostSendUpdateEvent extends PreSendUpdateEvent {
  response?: PublishResponse;
  error?: PublishError;
  result: SendUpdateResult;
}

/**
 * Something that publishes: the HTTP publisher, or the recording test double.
 *
 * @example const publisher: Publisher = createPublisher(); await publisher.sendUpdate('c', 1); publisher.close();
 */
export interface Publisher {
  /** Publish `data` to `channelId`, as `sendUpdate` does. */
  sendUpdate(
    channelId: string,
    data: unknown,
    options?: SendUpdateOptions,
  ): Promise<SendUpdateResult>;
  /** Close kept-alive connections. */
  close(): void;
}
