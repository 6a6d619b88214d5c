/**
 * The authorize hook: before a subscriber is let in, the daemon asks the app, as Nchan's
 * `nchan_authorize_request` does behind nginx. The request is what the documented nginx
 * config sends: `GET <authorize URL>` with the subscriber's query string appended, the
 * subscriber's headers (Cookie, Authorization, Origin, …) and `X-Original-URI` /
 * `X-Original-Method` naming its request, so one Express handler (`authorize()` of
 * pushserver/express) serves the daemon and Nchan alike. A 2xx answer lets the
 * subscriber in; any other status goes back to it with its body.
 *
 * Bounded: at most `concurrency` requests in flight (the others wait their turn), and
 * `timeoutMs` for the wait and the answer together, after which the subscriber gets 503.
 *
 * @module
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { HeaderList } from '../transport/response-head.js';

/** The app's decision on one subscriber. */
export interface AuthorizeAnswer {
  /** A 2xx status: let the subscriber in. */
  allowed: boolean;
  /** The app's status (or 503 when it did not answer in time, or could not be reached). */
  status: number;
  /** The app's Content-Type and WWW-Authenticate, to send on with a refusal. */
  headers: HeaderList;
  /** The app's body (at most 64 KiB of it), to send on with a refusal. */
  body: Buffer | string;
}

/** How an {@link Authorizer} asks. */
export interface AuthorizerOptions {
  /** The `authorize` URL of the location. */
  url: string;
  /** Milliseconds for the wait in line and the answer together. */
  timeoutMs: number;
  /** Requests in flight at once. */
  concurrency: number;
}

/** Headers not passed on: they describe the subscriber's connection, not the subscriber. */
const HOP_BY_HOP = new Set([
  'host',
  'connection',
  'keep-alive',
  'upgrade',
  'content-length',
  'transfer-encoding',
  'te',
  'trailer',
  'expect',
  'proxy-authorization',
  'proxy-connection',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
]);

/** Most of an app's refusal body passed on to the subscriber. */
const MAX_BODY = 64 * 1024;
/** Subscribers waiting for a turn beyond this many per slot get 503 at once. */
const QUEUE_PER_SLOT = 64;

/** Asks one `authorize` URL, with its bounds. */
export class Authorizer {
  private active = 0;
  private readonly queue: Array<() => void> = [];
  private readonly agent: HttpAgent;
  private readonly request: typeof httpRequest;
  private closed = false;

  constructor(private readonly options: AuthorizerOptions) {
    const https = options.url.startsWith('https:');
    this.request = https ? httpsRequest : httpRequest;
    this.agent = new (https ? HttpsAgent : HttpAgent)({ maxSockets: options.concurrency });
  }

  /**
   * Ask the app whether this subscriber may subscribe.
   *
   * @param method the subscriber's request method
   * @param target the subscriber's request target (path and query, as sent)
   * @param headers the subscriber's request headers
   * @returns the answer; never rejects (a failure is a 503 answer)
   */
  ask(method: string, target: string, headers: IncomingHttpHeaders): Promise<AuthorizeAnswer> {
    if (this.closed) return Promise.resolve(unavailable('the push server is shutting down'));
    return new Promise((resolve) => {
      let settled = false;
      let abort: (() => void) | undefined;
      const settle = (answer: AuthorizeAnswer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(answer);
      };
      const timer = setTimeout(() => {
        const queued = this.queue.indexOf(start);
        if (queued >= 0) this.queue.splice(queued, 1);
        abort?.();
        settle(unavailable('the authorize request timed out'));
      }, this.options.timeoutMs);
      const start = () => {
        if (settled) return this.next();
        if (this.closed) return settle(unavailable('the push server is shutting down'));
        this.active++;
        abort = this.send(method, target, headers, (answer) => {
          this.active--;
          this.next();
          settle(answer);
        });
      };
      if (this.active < this.options.concurrency) start();
      else if (this.queue.length >= this.options.concurrency * QUEUE_PER_SLOT) {
        settle(unavailable('too many subscribers are waiting for authorization'));
      } else this.queue.push(start);
    });
  }

  /** Stop asking: waiting subscribers get 503, requests in flight are aborted. */
  close(): void {
    this.closed = true;
    for (const start of this.queue.splice(0)) start();
    this.agent.destroy();
  }

  private next(): void {
    if (this.active < this.options.concurrency) this.queue.shift()?.();
  }

  /** Send one authorize request; `done` is called exactly once. Returns its abort. */
  private send(
    method: string,
    target: string,
    headers: IncomingHttpHeaders,
    done: (answer: AuthorizeAnswer) => void,
  ): () => void {
    let finished = false;
    const finish = (answer: AuthorizeAnswer) => {
      if (finished) return;
      finished = true;
      done(answer);
    };
    const query = target.indexOf('?');
    const url =
      query < 0
        ? this.options.url
        : this.options.url + (this.options.url.includes('?') ? '&' : '?') + target.slice(query + 1);
    const forwarded: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) forwarded[name] = value;
    }
    forwarded['x-original-uri'] = target;
    forwarded['x-original-method'] = method;
    let req: ReturnType<typeof httpRequest>;
    try {
      req = this.request(url, { method: 'GET', headers: forwarded, agent: this.agent });
    } catch (error) {
      finish(unavailable(`the authorize request failed (${(error as Error).message})`));
      return () => {};
    }
    req.on('error', (error: NodeJS.ErrnoException) =>
      finish(unavailable(`the authorize request failed (${error.code ?? error.message})`)),
    );
    req.on('response', (res) => {
      const status = res.statusCode ?? 502;
      const allowed = status >= 200 && status < 300;
      const chunks: Buffer[] = [];
      let length = 0;
      res.on('data', (chunk: Buffer) => {
        // The body matters only for a refusal, and only as much as a subscriber needs.
        if (allowed || length >= MAX_BODY) return;
        chunks.push(chunk);
        length += chunk.length;
      });
      res.on('error', () => finish(unavailable('the authorize answer was cut off')));
      res.on('end', () => {
        const passed: HeaderList = [];
        for (const name of ['Content-Type', 'WWW-Authenticate']) {
          const value = res.headers[name.toLowerCase()];
          if (typeof value === 'string') passed.push(name, value);
        }
        const body = Buffer.concat(chunks);
        finish({
          allowed,
          status,
          headers: passed,
          body: body.length > MAX_BODY ? body.subarray(0, MAX_BODY) : body,
        });
      });
    });
    req.end();
    return () => req.destroy();
  }
}

/** The 503 a subscriber gets when the app could not say. */
function unavailable(reason: string): AuthorizeAnswer {
  return {
    allowed: false,
    status: 503,
    headers: ['Content-Type', 'text/plain'],
    body: `Service Unavailable: ${reason}\n`,
  };
}
