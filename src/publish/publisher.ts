/**
 * The publisher: `sendUpdate` and `createPublisher`, which work out a publish's
 * request, pick its transport (the own keep-alive client, or node:http(s) for https and
 * heads the own client does not write) and emit `preSendUpdate` when anyone listens.
 *
 * @module
 */
import {
  getSettings,
  type PushServerSettings,
  type ResolvedSettings,
  resolveSettings,
} from '../settings/index.js';
import { emitRobust, signals } from '../signals.js';
import type { ConnectionPool } from './connection-pool.js';
import { type NodeAgents, sendWithNodeHttp } from './node-http-transport.js';
import { PublishCall, poolFor, sendWithPool } from './pool-transport.js';
import {
  type Channel,
  channelFor,
  checkIdempotencyKey,
  type Daemon,
  daemonFor,
  headWith,
  JSON_TYPE,
  PLAIN_HEADER_VALUE,
  requestHeaders,
  serialize,
} from './request.js';
import type { Publisher, PublishRequest, SendUpdateOptions, SendUpdateResult } from './types.js';

/** A publisher's connections: its own pools for http, node's agents for the rest. */
interface Connections extends NodeAgents {
  /** By `host:port`. */
  pools: Map<string, ConnectionPool>;
}

/**
 * A publisher bound to one daemon's settings, with its own keep-alive connections.
 * Use it when an app talks to several daemons; {@link sendUpdate} uses the
 * process-wide settings.
 *
 * @param settings settings for this daemon (defaults applied), or omitted for the process-wide ones at each call
 * @example const other = createPublisher({ publisherHost: { location: '10.0.0.5:8001' } });
 */
export function createPublisher(settings?: PushServerSettings | ResolvedSettings): Publisher {
  const fixed =
    settings === undefined
      ? undefined
      : isResolved(settings)
        ? settings
        : resolveSettings(settings, 'createPublisher()');
  const connections: Connections = {
    pools: new Map(),
    http: undefined,
    https: undefined,
  };
  return {
    sendUpdate: (channelId, data, options = {}) =>
      publish(fixed ?? getSettings(), connections, channelId, data, options),
    close() {
      for (const pool of connections.pools.values()) pool.close();
      connections.http?.destroy();
      connections.https?.destroy();
    },
  };
}

function isResolved(settings: PushServerSettings | ResolvedSettings): settings is ResolvedSettings {
  return 'stores' in settings && 'source' in settings;
}

function publish(
  settings: ResolvedSettings,
  connections: Connections,
  channelId: string,
  data: unknown,
  options: SendUpdateOptions,
): Promise<SendUpdateResult> {
  const alreadySerialized = options.alreadySerialized ?? false;
  const contentType = options.contentType ?? JSON_TYPE;
  let daemon: Daemon;
  let channel: Channel;
  let body: string | Buffer;
  try {
    daemon = daemonFor(settings);
    channel = channelFor(daemon, channelId, settings);
    body = serialize(data, alreadySerialized);
    checkIdempotencyKey(options.idempotencyKey);
  } catch (error) {
    return Promise.reject(error);
  }
  const length = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length;
  const call = new PublishCall(
    channelId,
    data,
    alreadySerialized,
    channel.url,
    options.ignoreErrors ?? settings.ignoreErrors,
    options.timeout ?? settings.publishTimeout,
    options.signal,
  );
  // The request and event objects cost as much as the rest of a publish; only
  // listeners get them.
  if (signals.listenerCount('preSendUpdate') > 0 || signals.listenerCount('postSendUpdate') > 0) {
    const request: PublishRequest = {
      method: 'POST',
      url: channel.url,
      headers: requestHeaders(contentType, length, options.idempotencyKey),
      body: typeof body === 'string' ? Buffer.from(body, 'utf8') : body,
    };
    call.event = { channelId, data, alreadySerialized, request };
    emitRobust('preSendUpdate', call.event);
    // What a listener changed in the request goes out, as it did through node:http.
    const head =
      daemon.secure || request.url !== channel.url ? undefined : headWith(channel, request.headers);
    return head === undefined
      ? sendWithNodeHttp(call, daemon, connections, request.url, request.headers, request.body)
      : sendWithPool(call, poolFor(connections.pools, daemon), head, request.body, 'utf8');
  }
  if (daemon.secure || (contentType !== JSON_TYPE && !PLAIN_HEADER_VALUE.test(contentType))) {
    const headers = requestHeaders(contentType, length, options.idempotencyKey);
    return sendWithNodeHttp(call, daemon, connections, channel.url, headers, body);
  }
  // Plain ASCII (as many bytes as characters): the cheaper encoder writes the same bytes.
  const encoding = typeof body === 'string' && length === body.length ? 'latin1' : 'utf8';
  // The common case has its head prebuilt up to the length; any other is written from
  // its headers (every value was checked plain above).
  const head =
    contentType === JSON_TYPE && options.idempotencyKey === undefined
      ? `${channel.jsonHead}${length}\r\n\r\n`
      : (headWith(channel, requestHeaders(contentType, length, options.idempotencyKey)) as string);
  return sendWithPool(call, poolFor(connections.pools, daemon), head, body, encoding);
}

let defaultPublisher: Publisher = createPublisher();

/**
 * Publish `data` as JSON to `channelId` through the daemon in the settings: the
 * one call an app needs. Emits `preSendUpdate` and `postSendUpdate` on `signals`.
 *
 * @param channelId the channel, as given to `channelUrl`
 * @param data any JSON-serializable value (or a JSON string with `alreadySerialized`)
 * @returns `{delivered: true}` when a subscriber was waiting (201), `{queued: true}` when not (202)
 * @throws PublishError when the daemon fails or cannot be reached, unless `ignoreErrors`
 * @example await sendUpdate('room-1', { type: 'message', text: 'hi' });
 */
export function sendUpdate(
  channelId: string,
  data: unknown,
  options?: SendUpdateOptions,
): Promise<SendUpdateResult> {
  return defaultPublisher.sendUpdate(channelId, data, options);
}

/**
 * Make {@link sendUpdate} use `publisher` (a recording double in tests, say).
 *
 * @returns a function that restores the previous publisher
 * @example const restore = setDefaultPublisher(createRecordingPublisher()); ... restore();
 */
export function setDefaultPublisher(publisher: Publisher): () => void {
  const previous = defaultPublisher;
  defaultPublisher = publisher;
  return () => {
    defaultPublisher = previous;
  };
}
