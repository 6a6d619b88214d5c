/**
 * What a publish did: the daemon's answer (or the failure) turned into a
 * {@link SendUpdateResult}, a {@link PublishError} and the `postSendUpdate` signal, the
 * same whichever transport carried it.
 *
 * @module
 */
import type { IncomingHttpHeaders } from 'node:http';
import { parseChannelInfo } from '../channel/info.js';
import { rememberPublished } from '../channel/start.js';
import { PublishError } from '../errors.js';
import { emitRobust } from '../signals.js';
import { TimeoutError } from './connection-pool.js';
import type {
  PostSendUpdateEvent,
  PreSendUpdateEvent,
  PublishResponse,
  SendUpdateResult,
} from './types.js';

/** What one call is about, for its result and signals. */
export interface Publish {
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

/** The daemon's answer as {@link settle} needs it: node:http's `headers`, or the raw `head`. */
export interface Answer {
  status: number;
  headers?: IncomingHttpHeaders;
  head?: string;
  body: string;
}

/**
 * Finish `call`: build its result from the answer (or `cause` when there is none),
 * emit `postSendUpdate` when anyone listened to `preSendUpdate` or it, then resolve, or
 * reject with a {@link PublishError} unless the call ignores errors.
 *
 * @param answer the daemon's answer, undefined when it failed
 * @param cause why there is no answer
 * @example settle(call, { status: 202, head, body }, undefined, resolve, reject);
 */
export function settle(
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
  // A page rendered from now on with `start: 'render'` starts after this message.
  if (result.ok && result.channel) rememberPublished(url, result.channel.lastMessageId);
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

function describeFailure(cause: unknown): string {
  if (cause instanceof TimeoutError) return cause.message;
  const error = cause as NodeJS.ErrnoException;
  if (error?.code === 'ECONNREFUSED' && error.message.startsWith('connect ECONNREFUSED')) {
    return `connection refused (${error.message.replace(/^connect ECONNREFUSED /, '')}); is the push daemon running? Start one with: npx runpushserver`;
  }
  return error?.message ?? String(cause);
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
function headersOf(head: string): IncomingHttpHeaders {
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
