import http from 'node:http';
import https from 'node:https';
import { publisherUrl } from '../channel/urls.js';
import { PublishError } from '../errors.js';
import {
  getSettings,
  type PushServerSettings,
  type ResolvedSettings,
  resolveSettings,
} from '../settings/index.js';
import { emitRobust, signals } from '../signals.js';
import { ConnectionPool, TimeoutError, WireCall } from './connection-pool.js';
import type { PublishAnswer } from './response-reader.js';

/** Options of one {@link sendUpdate} call. */
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

/** Channel info as the daemon reports it after a publish (Nchan's body). */
export interface ChannelInfo {
  /** Messages queued in the channel's buffer. */
  messages: number;
  /** Seconds since a subscriber last asked; -1 when never. */
  requested: number;
  /** Subscribers waiting right now. */
  subscribers: number;
  /** Id of the newest message, `seconds:counter`. */
  lastMessageId: string;
}

/** What a publish did. */
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
  url: string;
  /** The failure, when `ignoreErrors` turned it into a result. */
  error?: PublishError;
}

/** The request a publish sends, as the signals report it. */
export interface PublishRequest {
  method: 'POST';
  url: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** The daemon's answer, as the signals report it. */
export interface PublishResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Payload of `preSendUpdate`. */
export interface PreSendUpdateEvent {
  channelId: string;
  data: unknown;
  alreadySerialized: boolean;
  request: PublishRequest;
}

/** Payload of `postSendUpdate`: `response` when the daemon answered, `error` when it failed. */
export interface PostSendUpdateEvent extends PreSendUpdateEvent {
  response?: PublishResponse;
  error?: PublishError;
  result: SendUpdateResult;
}

/** Something that publishes: the HTTP publisher, or the recording test double. */
export interface Publisher {
  sendUpdate(
    channelId: string,
    data: unknown,
    options?: SendUpdateOptions,
  ): Promise<SendUpdateResult>;
  /** Close kept-alive connections. */
  close(): void;
}

const JSON_TYPE = 'application/json; charset=utf-8';
/** A Content-Type the own client writes as is; anything else goes through node:http. */
const PLAIN_HEADER_VALUE = /^[\t\x20-\x7e]*$/;
/** Channels whose URL and request head a publisher remembers, per daemon. */
const CHANNEL_CACHE_SIZE = 4096;

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

/** A publisher's connections: its own pools for http, node's agents for the rest. */
interface Connections {
  /** By `host:port`. */
  pools: Map<string, ConnectionPool>;
  http: http.Agent | undefined;
  https: https.Agent | undefined;
}

/** Where a publish goes, worked out once per settings object. */
interface Daemon {
  secure: boolean;
  /** For `net.connect`: no brackets around an IPv6 address. */
  host: string;
  port: number;
  /** `host:port` */
  key: string;
  /** Channel id → its URL and request head, most recent {@link CHANNEL_CACHE_SIZE}. */
  channels: Map<string, Channel>;
}

interface Channel {
  url: string;
  /** Request line and Host, CRLF-terminated: the other headers follow per call. */
  head: string;
  /** {@link head} and the headers of a JSON publish, up to the length's value. */
  jsonHead: string;
}

const daemons = new WeakMap<ResolvedSettings, Daemon>();

function daemonFor(settings: ResolvedSettings): Daemon {
  let daemon = daemons.get(settings);
  if (!daemon) {
    const { location, secure } = settings.publisherHost;
    const parsed = new URL(`${secure ? 'https' : 'http'}://${location}/`);
    const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = Number(parsed.port || (secure ? 443 : 80));
    daemon = { secure, host, port, key: `${host}:${port}`, channels: new Map() };
    daemons.set(settings, daemon);
  }
  return daemon;
}

function channelFor(daemon: Daemon, channelId: string, settings: ResolvedSettings): Channel {
  let channel = daemon.channels.get(channelId);
  if (!channel) {
    // Throws ChannelIdError for an id the location refuses; only good ids are kept.
    const url = publisherUrl(channelId, settings);
    // As node:http sends it: the URL parser percent-encodes what the location left raw.
    const parsed = new URL(url);
    const head = `POST ${parsed.pathname}${parsed.search} HTTP/1.1\r\nHost: ${parsed.host}\r\n`;
    channel = {
      url,
      head,
      jsonHead: `${head}Accept: application/json\r\nContent-Type: ${JSON_TYPE}\r\nContent-Length: `,
    };
    if (daemon.channels.size >= CHANNEL_CACHE_SIZE) daemon.channels.clear();
    daemon.channels.set(channelId, channel);
  }
  return channel;
}

/** What one call is about, for its result and signals. */
interface Publish {
  channelId: string;
  data: unknown;
  alreadySerialized: boolean;
  url: string;
  ignoreErrors: boolean;
  timeout: number;
  signal: AbortSignal | undefined;
  /** Set when anyone listens to the signals. */
  event: PreSendUpdateEvent | undefined;
}

/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * One publish: what it is about (for its result and signals) and, on the own client,
 * its wire request, bookkeeping and promise, all in one object.
 */
class PublishCall extends WireCall implements Publish {
  event: PreSendUpdateEvent | undefined = undefined;
  resolve: (result: SendUpdateResult) => void = noop;
  reject: (error: unknown) => void = noop;

  constructor(
    readonly channelId: string,
    readonly data: unknown,
    readonly alreadySerialized: boolean,
    readonly url: string,
    readonly ignoreErrors: boolean,
    timeout: number,
    signal: AbortSignal | undefined,
  ) {
    super();
    this.timeout = timeout;
    this.signal = signal;
  }

  answered(error: Error | undefined, answer: PublishAnswer | undefined): void {
    settle(
      this,
      answer && { status: answer.status, head: answer.head, body: answer.body.toString('utf8') },
      error,
      this.resolve,
      this.reject,
    );
  }
}

function noop(): void {}

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
      : sendWithPool(call, poolFor(connections, daemon), head, request.body, 'utf8');
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
  return sendWithPool(call, poolFor(connections, daemon), head, body, encoding);
}

/** The headers of a publish, as the signals report them. */
function requestHeaders(
  contentType: string,
  length: number,
  idempotencyKey: string | undefined,
): Record<string, string> {
  const headers: Record<string, string> = {
    'Content-Type': contentType,
    'Content-Length': String(length),
    Accept: 'application/json',
  };
  if (idempotencyKey !== undefined) headers['Idempotency-Key'] = idempotencyKey;
  return headers;
}

/** A key that can travel as a header value as it is, or a TypeError naming the rule. */
function checkIdempotencyKey(key: string | undefined): void {
  if (key === undefined) return;
  if (typeof key !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(key)) {
    throw new TypeError(
      `pushserver: idempotencyKey must be 1 to 255 visible ASCII characters, got ${JSON.stringify(key)}`,
    );
  }
}

/**
 * The request head for `headers` on the own client, or undefined when node:http must
 * write it (a Host of the listener's own, a name or value that is not plain ASCII).
 */
function headWith(channel: Channel, headers: Record<string, string>): string | undefined {
  let head = channel.head;
  for (const name of Object.keys(headers)) {
    const value = String(headers[name]);
    if (!HEADER_NAME.test(name) || !PLAIN_HEADER_VALUE.test(value) || /^host$/i.test(name)) {
      return undefined;
    }
    head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}

function poolFor(connections: Connections, daemon: Daemon): ConnectionPool {
  let pool = connections.pools.get(daemon.key);
  if (!pool) {
    pool = new ConnectionPool(daemon.host, daemon.port);
    connections.pools.set(daemon.key, pool);
  }
  return pool;
}

/** Through the own keep-alive client. */
function sendWithPool(
  call: PublishCall,
  pool: ConnectionPool,
  head: string,
  body: string | Buffer,
  encoding: 'utf8' | 'latin1',
): Promise<SendUpdateResult> {
  call.head = head;
  call.body = body;
  call.encoding = encoding;
  return new Promise((resolve, reject) => {
    call.resolve = resolve;
    call.reject = reject;
    pool.send(call);
  });
}

/** https, or a request head the own client does not write: node:http(s) and its agent. */
function sendWithNodeHttp(
  call: Publish,
  daemon: Daemon,
  connections: Connections,
  url: string,
  headers: Record<string, string>,
  body: string | Buffer,
): Promise<SendUpdateResult> {
  let agent: http.Agent;
  if (daemon.secure) {
    connections.https ??= new https.Agent({ keepAlive: true, maxSockets: 64 });
    agent = connections.https;
  } else {
    connections.http ??= new http.Agent({ keepAlive: true, maxSockets: 64 });
    agent = connections.http;
  }
  return new Promise((resolve, reject) => {
    post(url, headers, body, agent, call).then(
      (response) => settle(call, response, undefined, resolve, reject),
      (cause) => settle(call, undefined, cause, resolve, reject),
    );
  });
}

/** The daemon's answer as {@link settle} needs it: node:http's `headers`, or the raw `head`. */
interface Answer {
  status: number;
  headers?: http.IncomingHttpHeaders;
  head?: string;
  body: string;
}

function settle(
  call: Publish,
  answer: Answer | undefined,
  cause: unknown,
  resolve: (result: SendUpdateResult) => void,
  reject: (error: unknown) => void,
): void {
  const { url } = call;
  let error: PublishError | undefined;
  if (answer === undefined) {
    error = new PublishError(`pushserver: publishing to ${url} failed: ${describeFailure(cause)}`, {
      url,
      cause,
    });
  } else if (answer.status !== 201 && answer.status !== 202) {
    const firstLine = answer.body.split(/\r?\n/, 1)[0].slice(0, 200);
    error = new PublishError(
      `pushserver: publishing to ${url} failed: the daemon answered ${answer.status}${firstLine ? `: ${firstLine}` : ''}`,
      { url, status: answer.status, body: answer.body },
    );
  }
  const status = answer?.status;
  const result: SendUpdateResult = {
    ok: error === undefined,
    delivered: error === undefined && status === 201,
    queued: error === undefined && status === 202,
    status,
    channel: answer ? parseChannelInfo(answer.body) : undefined,
    url,
    error,
  };
  if (call.event) {
    const response: PublishResponse | undefined = answer && {
      status: answer.status,
      headers: answer.headers ?? headersOf(answer.head ?? ''),
      body: answer.body,
    };
    emitRobust('postSendUpdate', {
      ...call.event,
      response,
      error,
      result,
    } satisfies PostSendUpdateEvent);
  }
  if (error && !call.ignoreErrors) reject(error);
  else resolve(result);
}

function serialize(data: unknown, alreadySerialized: boolean): string | Buffer {
  if (!alreadySerialized) {
    const json = JSON.stringify(data);
    if (json === undefined)
      throw new TypeError(`sendUpdate: ${typeof data} cannot be serialized to JSON`);
    return json;
  }
  if (typeof data === 'string') return data;
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof Uint8Array) return Buffer.from(data);
  throw new TypeError('sendUpdate: with alreadySerialized, data must be a string or a Buffer');
}

/** Headers a repeat of which node:http drops rather than joins. */
const SINGLE_HEADERS = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

/** A raw response head's headers as node:http's `IncomingMessage.headers` has them. */
function headersOf(head: string): http.IncomingHttpHeaders {
  const headers: Record<string, string | string[]> = {};
  const lines = head.split('\r\n');
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(':');
    const name = lines[i].slice(0, colon).toLowerCase();
    const value = lines[i].slice(colon + 1).trim();
    const previous = headers[name];
    if (name === 'set-cookie') headers[name] = [...((previous as string[]) ?? []), value];
    else if (previous === undefined) headers[name] = value;
    else if (!SINGLE_HEADERS.has(name)) headers[name] = `${previous}, ${value}`;
  }
  return headers;
}

function post(
  url: string,
  headers: Record<string, string>,
  body: string | Buffer,
  agent: http.Agent,
  limits: { timeout: number; signal?: AbortSignal },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    if (limits.signal?.aborted) {
      reject(new Error('aborted before it was sent', { cause: limits.signal.reason }));
      return;
    }
    const transport = url.startsWith('https:') ? https : http;
    const req = transport.request(url, { method: 'POST', headers, agent });
    const timer = setTimeout(() => req.destroy(new TimeoutError(limits.timeout)), limits.timeout);
    const onAbort = () => req.destroy(new Error('aborted', { cause: limits.signal?.reason }));
    limits.signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      clearTimeout(timer);
      limits.signal?.removeEventListener('abort', onAbort);
    };
    req.on('error', (error) => {
      done();
      reject(error);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (error) => {
        done();
        reject(error);
      });
      res.on('end', () => {
        done();
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    req.end(body);
  });
}

function describeFailure(cause: unknown): string {
  if (cause instanceof TimeoutError) return cause.message;
  const error = cause as NodeJS.ErrnoException;
  if (error?.code === 'ECONNREFUSED' && error.message.startsWith('connect ECONNREFUSED')) {
    return `connection refused (${error.message.replace(/^connect ECONNREFUSED /, '')}); is the push daemon running? Start one with: npx runpushserver`;
  }
  return error?.message ?? String(cause);
}

/** The JSON body the daemon and Nchan send to `Accept: application/json`, byte for byte: read without JSON.parse. */
const CHANNEL_INFO_JSON =
  /^\{"messages": (\d{1,15}), "requested": (-?\d{1,15}), "subscribers": (\d{1,15}), "last_message_id": "(\d{1,15}:\d{1,15})" \}\s*$/;

/**
 * Parse the channel info a daemon sends after a publish: Nchan's text body
 * (`queued messages: 1\r\nlast requested: -1 sec. ago\r\n...`) or its JSON body.
 *
 * @returns the info, or undefined for an empty or unrecognised body (py-hbpush sends none)
 */
export function parseChannelInfo(body: string): ChannelInfo | undefined {
  const exact = CHANNEL_INFO_JSON.exec(body);
  if (exact) {
    return {
      messages: Number(exact[1]),
      requested: Number(exact[2]),
      subscribers: Number(exact[3]),
      lastMessageId: exact[4],
    };
  }
  const text = body.trim();
  if (text.startsWith('{')) {
    try {
      const json = JSON.parse(text);
      if (typeof json.messages === 'number') {
        return {
          messages: json.messages,
          requested: json.requested,
          subscribers: json.subscribers,
          lastMessageId: String(json.last_message_id),
        };
      }
    } catch {
      return undefined;
    }
    return undefined;
  }
  const field = (name: string) => new RegExp(`^${name}: (\\S+)`, 'm').exec(text)?.[1];
  const messages = field('queued messages');
  if (messages === undefined) return undefined;
  return {
    messages: Number(messages),
    requested: Number(field('last requested') ?? -1),
    subscribers: Number(field('active subscribers') ?? 0),
    lastMessageId: field('last message id') ?? '',
  };
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

/** One call recorded by {@link createRecordingPublisher}. */
export interface RecordedUpdate {
  channelId: string;
  data: unknown;
  options: SendUpdateOptions;
  /** The URL it would have been posted to. */
  url: string;
}

/** A publisher that records instead of sending. */
export interface RecordingPublisher extends Publisher {
  /** Every call, oldest first. */
  readonly updates: RecordedUpdate[];
  /** The `data` of the calls for one channel, oldest first. */
  dataFor(channelId: string): unknown[];
  /** Forget what was recorded. */
  clear(): void;
}

/**
 * A test double: records each `sendUpdate` instead of talking to a daemon, and
 * answers like a daemon with no subscriber (`queued`). URLs are still built, so a
 * bad channel id fails as it would for real.
 *
 * @param options `delivered: true` answers as if a subscriber was waiting
 * @example
 * const recorder = createRecordingPublisher();
 * const restore = setDefaultPublisher(recorder);
 * await app.handleOrder();
 * assert.deepEqual(recorder.dataFor('orders'), [{ type: 'created', id: 1 }]);
 * restore();
 */
export function createRecordingPublisher(
  options: { delivered?: boolean; settings?: ResolvedSettings } = {},
): RecordingPublisher {
  const updates: RecordedUpdate[] = [];
  return {
    updates,
    async sendUpdate(channelId, data, callOptions = {}) {
      const url = publisherUrl(channelId, options.settings ?? getSettings());
      updates.push({ channelId, data, options: callOptions, url });
      const delivered = options.delivered ?? false;
      return { ok: true, delivered, queued: !delivered, status: delivered ? 201 : 202, url };
    },
    dataFor: (channelId) =>
      updates.filter((update) => update.channelId === channelId).map((update) => update.data),
    clear() {
      updates.length = 0;
    },
    close() {},
  };
}
