/**
 * One channel's long-poll loop (at most one request in flight, one cursor), what it does
 * with each answer, and the registry of subscribed channels and of where each one was.
 */
import { emit, logError, warn, whenDocumentReady } from './events.js';
import { now, pollWait, retryDelay } from './options.js';
import { deliver } from './processors.js';
import { type Cursor, cursorHeaders, readEtag } from './protocol.js';
import type { ChannelState } from './types.js';

/** name -> Channel, for every channel subscribed and not unsubscribed. */
export const channels = new Map<string, Channel>();

/** name -> {url, cursor}: where a channel was, so subscribing again resumes there. */
export const cursors = new Map<string, { url: string; cursor: Cursor }>();

/** States after which a channel polls no more until it is subscribed again. */
export const TERMINAL_STATES: readonly ChannelState[] = ['gone', 'failed', 'closed'];

/**
 * A subscribed channel: `start()` begins polling from its cursor, `stop(state)` ends it.
 *
 * @example const channel = new Channel('room', url, FIRST_CURSOR); channel.start();
 */
export class Channel {
  state: ChannelState = 'idle';
  running = false;
  private failures = 0;
  private controller: AbortController | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** When the last poll started (`now()`), for `minPollInterval`. */
  private startedAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly name: string,
    readonly url: string,
    private cursor: Cursor,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.poll();
  }

  /** Abort the request in flight and any pending poll; `state` says why. */
  stop(state: ChannelState): void {
    this.running = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const controller = this.controller;
    this.controller = null;
    if (controller) controller.abort();
    this.setState(state);
  }

  private async poll(): Promise<void> {
    if (!this.running) return;
    if (this.state !== 'open') this.setState('connecting');
    const controller = new AbortController();
    this.controller = controller;
    this.startedAt = now();
    let response: Response;
    let body = '';
    try {
      response = await fetch(this.url, {
        method: 'GET',
        headers: cursorHeaders(this.cursor),
        // Cookies reach the daemon (and through passthrough, the app) cross-origin too.
        credentials: 'include',
        mode: 'cors',
        cache: 'no-store',
        signal: controller.signal,
      });
      if (response.status === 200) body = await response.text();
    } catch (error) {
      // Aborted by stop() (unsubscribe, pagehide): not an error of the channel.
      if (controller.signal.aborted) return;
      this.controller = null;
      this.retry(0, error);
      return;
    }
    if (controller.signal.aborted) return;
    this.controller = null;
    this.handle(response, body);
  }

  /** Poll again after `delay` ms (at once when 0). */
  private pollIn(delay: number): void {
    if (delay <= 0) {
      this.poll();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.poll();
    }, delay);
  }

  private handle(response: Response, body: string): void {
    const status = response.status;
    if (status === 200) {
      this.receive(response.headers, body);
    } else if (status === 304 || status === 408) {
      // Nothing newer (interval polling) or the daemon's wait timed out: ask again with
      // the same cursor, at once after a long wait, but never in a loop with a daemon
      // that answers at once.
      this.succeeded();
      this.pollIn(pollWait(this.startedAt));
    } else if (status === 410) {
      this.fail('gone', status, `channel "${this.name}" was deleted on the daemon (410 Gone)`);
    } else if (status >= 500) {
      this.retry(status, new Error(`the daemon answered ${status} for ${this.url}`));
    } else {
      this.fail(
        'failed',
        status,
        `the daemon refused ${this.url} with ${status}; check the channel URL and the daemon's allowOrigin`,
      );
    }
  }

  /**
   * The page's Content-Security-Policy refuses this channel's URL (`connect-src`): no poll
   * can ever pass, so stop (state `failed`) instead of retrying.
   *
   * @param origin the daemon's origin, for the message
   */
  blockedByPolicy(origin: string): void {
    this.fail(
      'failed',
      0,
      `the page's Content-Security-Policy blocks ${this.url} (connect-src); ` +
        `allow the push daemon in connect-src, e.g. "connect-src 'self' ${origin}"`,
      logError,
    );
  }

  private receive(headers: Headers, body: string): void {
    const lastModified = headers.get('Last-Modified');
    const etag = readEtag(headers);
    this.succeeded();
    if (lastModified !== null && etag !== null) {
      this.cursor = { lastModified, etag };
      cursors.set(this.name, { url: this.url, cursor: this.cursor });
    }
    const data = this.parseMessage(body);
    if (data !== undefined) {
      const update = { channel: this.name, url: this.url, data, lastModified, etag };
      whenDocumentReady(() => deliver(update));
    }
    if (lastModified === null || etag === null) {
      // Without a cursor the next poll would return this same message again, forever.
      this.fail(
        'failed',
        200,
        `the answer from ${this.url} has no readable Last-Modified and Etag headers; ` +
          'a cross-origin daemon must send Access-Control-Expose-Headers: Last-Modified, Etag',
      );
      return;
    }
    // A message: ask for the next one at once (a page catching up reads the buffer quickly).
    this.poll();
  }

  /** The message's JSON, or undefined (reported) when it is empty or not JSON. */
  private parseMessage(body: string): unknown {
    if (body === '') {
      warn(`pushserver: an empty message arrived on channel "${this.name}"`);
      return undefined;
    }
    try {
      return JSON.parse(body);
    } catch (error) {
      emit('error', {
        channel: this.name,
        url: this.url,
        status: 200,
        error: new Error(
          `pushserver: a message on channel "${this.name}" is not JSON: ${(error as Error).message}`,
        ),
        retryIn: null,
        fatal: false,
      });
      return undefined;
    }
  }

  private succeeded(): void {
    this.failures = 0;
    this.setState('open');
  }

  /** After a network error (status 0) or a 5xx: back off, then ask again with the same cursor. */
  private retry(status: number, error: unknown): void {
    const delay = Math.max(retryDelay(this.failures), pollWait(this.startedAt));
    this.failures += 1;
    emit('error', {
      channel: this.name,
      url: this.url,
      status,
      error,
      retryIn: delay,
      fatal: false,
    });
    this.setState('retrying');
    this.pollIn(delay);
  }

  /** Stop for good in `state`: a fatal `error` event, and `message` on the console. */
  private fail(
    state: ChannelState,
    status: number,
    message: string,
    log: (message: string) => void = warn,
  ): void {
    this.stop(state);
    const error = new Error(`pushserver: ${message}`);
    emit('error', {
      channel: this.name,
      url: this.url,
      status,
      error,
      retryIn: null,
      fatal: true,
    });
    log(error.message);
  }

  private setState(state: ChannelState): void {
    if (state === this.state) return;
    const previous = this.state;
    this.state = state;
    emit('state', { channel: this.name, url: this.url, state, previous });
  }
}
