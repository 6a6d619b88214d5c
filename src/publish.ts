import http from 'node:http';
import https from 'node:https';
import { PublishError } from './errors.js';
import {
  getSettings,
  type PushServerSettings,
  type ResolvedSettings,
  resolveSettings,
} from './settings.js';
import { emitRobust } from './signals.js';
import { publisherUrl } from './urls.js';

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
  const agents = {
    http: new http.Agent({ keepAlive: true, maxSockets: 64 }),
    https: new https.Agent({ keepAlive: true, maxSockets: 64 }),
  };
  return {
    sendUpdate: (channelId, data, options = {}) =>
      publish(fixed ?? getSettings(), agents, channelId, data, options),
    close() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

function isResolved(settings: PushServerSettings | ResolvedSettings): settings is ResolvedSettings {
  return 'stores' in settings && 'source' in settings;
}

async function publish(
  settings: ResolvedSettings,
  agents: { http: http.Agent; https: https.Agent },
  channelId: string,
  data: unknown,
  options: SendUpdateOptions,
): Promise<SendUpdateResult> {
  const alreadySerialized = options.alreadySerialized ?? false;
  const ignoreErrors = options.ignoreErrors ?? settings.ignoreErrors;
  const url = publisherUrl(channelId, settings);
  const body = serialize(data, alreadySerialized);
  const request: PublishRequest = {
    method: 'POST',
    url,
    headers: {
      'Content-Type': options.contentType ?? JSON_TYPE,
      'Content-Length': String(body.length),
      Accept: 'application/json',
    },
    body,
  };
  const event: PreSendUpdateEvent = { channelId, data, alreadySerialized, request };
  emitRobust('preSendUpdate', event);

  let response: PublishResponse | undefined;
  let error: PublishError | undefined;
  try {
    response = await post(request, url.startsWith('https:') ? agents.https : agents.http, {
      timeout: options.timeout ?? settings.publishTimeout,
      signal: options.signal,
    });
    if (response.status !== 201 && response.status !== 202) {
      const firstLine = response.body.split(/\r?\n/, 1)[0].slice(0, 200);
      error = new PublishError(
        `pushserver: publishing to ${url} failed: the daemon answered ${response.status}${firstLine ? `: ${firstLine}` : ''}`,
        { url, status: response.status, body: response.body },
      );
    }
  } catch (cause) {
    error = new PublishError(`pushserver: publishing to ${url} failed: ${describeFailure(cause)}`, {
      url,
      cause,
    });
  }
  const result: SendUpdateResult = {
    ok: error === undefined,
    delivered: error === undefined && response?.status === 201,
    queued: error === undefined && response?.status === 202,
    status: response?.status,
    channel: response ? parseChannelInfo(response.body) : undefined,
    url,
    error,
  };
  emitRobust('postSendUpdate', { ...event, response, error, result } satisfies PostSendUpdateEvent);
  if (error && !ignoreErrors) throw error;
  return result;
}

function serialize(data: unknown, alreadySerialized: boolean): Buffer {
  if (!alreadySerialized) {
    const json = JSON.stringify(data);
    if (json === undefined)
      throw new TypeError(`sendUpdate: ${typeof data} cannot be serialized to JSON`);
    return Buffer.from(json, 'utf8');
  }
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof Uint8Array) return Buffer.from(data);
  throw new TypeError('sendUpdate: with alreadySerialized, data must be a string or a Buffer');
}

function post(
  request: PublishRequest,
  agent: http.Agent,
  limits: { timeout: number; signal?: AbortSignal },
): Promise<PublishResponse> {
  return new Promise((resolve, reject) => {
    if (limits.signal?.aborted) {
      reject(new Error('aborted before it was sent', { cause: limits.signal.reason }));
      return;
    }
    const transport = request.url.startsWith('https:') ? https : http;
    const req = transport.request(request.url, { method: 'POST', headers: request.headers, agent });
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
    req.end(request.body);
  });
}

class TimeoutError extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${ms} ms`);
  }
}

function describeFailure(cause: unknown): string {
  if (cause instanceof TimeoutError) return cause.message;
  const error = cause as NodeJS.ErrnoException;
  if (error?.code === 'ECONNREFUSED') {
    return `connection refused (${error.message.replace(/^connect ECONNREFUSED /, '')}); is the push daemon running? Start one with: npx runpushserver`;
  }
  return error?.message ?? String(cause);
}

/**
 * Parse the channel info a daemon sends after a publish: Nchan's text body
 * (`queued messages: 1\r\nlast requested: -1 sec. ago\r\n...`) or its JSON body.
 *
 * @returns the info, or undefined for an empty or unrecognised body (py-hbpush sends none)
 */
export function parseChannelInfo(body: string): ChannelInfo | undefined {
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
