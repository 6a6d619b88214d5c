/**
 * The three ways a connection reads a URL: an EventSource stream, a WebSocket (Nchan's
 * `ws+meta.nchan` subprotocol, whose frames carry the message id), and the long-poll loop
 * (one request at a time, each answer's id sent back with the next). Each reports the
 * same four things to its connection: open, a message, and the end; what to do next is
 * the connection's choice.
 */
import { global } from './global.js';
import { now, options, pollWait } from './options.js';
import { type Cursor, cursorHeaders, readEtag } from './protocol.js';
import type { ChannelState, Transport } from './types.js';

/** What a session tells its connection. */
export interface SessionEvents {
  /** The server accepted the subscription and is waiting for messages. */
  open(): void;
  /**
   * A message: its id as the server wrote it (`time:tags`, or null), its body, and on
   * long-poll the answer's cursor as written.
   */
  message(id: string | null, body: string, cursor: Cursor | null): void;
  /** The session is over; it reports nothing after this. */
  end(end: SessionEnd): void;
}

/** Why a session ended. */
export interface SessionEnd {
  /** The HTTP status (or the one a stream's close reason names); 0 for a network error or a stream that ended. */
  status: number;
  error: Error;
  /** Whether `open()` ran first. */
  opened: boolean;
  /**
   * Whether the request that ended had been accepted and was waiting (a stream that was
   * open, a long-poll parked): its end is the server ending a subscription, not refusing one.
   */
  waited: boolean;
  /** Set when no retry can help: the state the channels stop in. */
  fatal?: ChannelState;
}

/** A running session; `close()` stops it without an `end`. */
export interface Session {
  readonly transport: Transport;
  /** The URL last requested (with its resume id), for the page's CSP reports. */
  readonly requestUrl: string;
  close(): void;
}

/** How long a long-poll request must wait unanswered to count as accepted and waiting. */
export const PARKED_MS = 500;

/** The constructor of EventSource or WebSocket, when the page has one. */
function globalConstructor<K extends 'EventSource' | 'WebSocket'>(
  name: K,
): (typeof globalThis)[K] | null {
  const value = (global as Record<string, unknown>)[name];
  return typeof value === 'function' ? (value as (typeof globalThis)[K]) : null;
}

/** Whether the page can open an EventSource (a test or an old browser may lack it). */
export function hasEventSource(): boolean {
  return globalConstructor('EventSource') !== null;
}

/** `url` with `?last_event_id=<id>` (Nchan's resume parameter for streams), or `url` itself. */
function withLastEventId(url: string, id: string | null): string {
  if (id === null) return url;
  const target = new URL(url, global.document ? global.document.baseURI : undefined);
  target.searchParams.set('last_event_id', id);
  return target.href;
}

/**
 * Follow `url` with an EventSource, from after message `resume` (null: the oldest buffered).
 * The browser's own reconnection is not used: the connection decides when and from where.
 */
export function openEventSource(
  url: string,
  resume: string | null,
  events: SessionEvents,
): Session {
  const requestUrl = withLastEventId(url, resume);
  const EventSourceClass = globalConstructor('EventSource') as typeof EventSource;
  // Cookies reach the daemon (and through passthrough, the app) cross-origin too.
  const source = new EventSourceClass(requestUrl, { withCredentials: true });
  let opened = false;
  let over = false;
  const onMessage = (event: MessageEvent) => {
    if (!over) events.message(event.lastEventId || null, event.data, null);
  };
  // A message published as `X-EventSource-Event: open` or `error` arrives as an event of
  // that name, with data: a message, not the stream opening or ending.
  const isMessage = (event: Event): event is MessageEvent =>
    typeof (event as MessageEvent).data === 'string';
  source.onopen = (event) => {
    if (isMessage(event)) return onMessage(event);
    opened = true;
    events.open();
  };
  source.onmessage = onMessage;
  for (const name of options.eventNames) {
    if (name !== 'message' && name !== 'open' && name !== 'error') {
      source.addEventListener(name, onMessage as EventListener);
    }
  }
  source.onerror = (event) => {
    if (isMessage(event)) return onMessage(event);
    // Nchan ends a stream with a comment (`:410: 410 Gone`, `:408: ...`) that EventSource
    // does not show: the end is all there is to see.
    if (over) return;
    over = true;
    source.close();
    events.end({
      status: 0,
      error: new Error(
        opened ? `the stream from ${url} ended` : `EventSource could not follow ${url}`,
      ),
      opened,
      waited: opened,
    });
  };
  return {
    transport: 'eventsource',
    requestUrl,
    close() {
      over = true;
      source.close();
    },
  };
}

/**
 * Follow `url` over a WebSocket with Nchan's `ws+meta.nchan` subprotocol: each text frame
 * is `id: <id>\n[content-type: <type>\n]\n<body>`. A close reason such as `410 Gone` or
 * `408 Request Timeout` gives the end its status.
 */
export function openWebSocket(url: string, resume: string | null, events: SessionEvents): Session {
  const target = new URL(
    withLastEventId(url, resume),
    global.document ? global.document.baseURI : undefined,
  );
  target.protocol = target.protocol === 'https:' ? 'wss:' : 'ws:';
  const WebSocketClass = globalConstructor('WebSocket') as typeof WebSocket;
  const socket = new WebSocketClass(target.href, 'ws+meta.nchan');
  let opened = false;
  let over = false;
  socket.onopen = () => {
    opened = true;
    events.open();
  };
  socket.onmessage = (event) => {
    if (over) return;
    if (typeof event.data !== 'string') return; // binary: application/octet-stream, not JSON
    const frame = readMetaFrame(event.data);
    events.message(frame.id, frame.body, null);
  };
  socket.onclose = (event) => {
    if (over) return;
    over = true;
    const status = /^(\d{3})\b/.exec(event.reason || '');
    events.end({
      status: status ? Number(status[1]) : 0,
      error: new Error(
        `the WebSocket to ${url} closed (${event.code}${event.reason ? ` ${event.reason}` : ''})`,
      ),
      opened,
      waited: opened,
    });
  };
  return {
    transport: 'websocket',
    requestUrl: target.href,
    close() {
      over = true;
      socket.close(1000);
    },
  };
}

/** A `ws+meta.nchan` frame's id and body (a frame without the header is all body). */
function readMetaFrame(text: string): { id: string | null; body: string } {
  const end = text.indexOf('\n\n');
  if (end < 0 || !text.startsWith('id: ')) return { id: null, body: text };
  const id = text.slice(4, text.indexOf('\n'));
  return { id, body: text.slice(end + 2) };
}

/**
 * Follow `url` by long-polling from `start` (null: no cursor headers, the oldest
 * buffered message): a message is asked for again at once, a 304 or 408 no sooner than
 * `minPollInterval` after the last request started; anything else ends the session.
 */
export function openLongPoll(url: string, start: Cursor | null, events: SessionEvents): Session {
  let cursor = start;
  let controller: AbortController | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let parkedTimer: ReturnType<typeof setTimeout> | null = null;
  let opened = false;
  let over = false;
  /** The request in flight has been waiting long enough to count as parked. */
  let parked = false;

  const open = () => {
    if (!opened && !over) {
      opened = true;
      events.open();
    }
  };
  const end = (status: number, error: Error, fatal?: ChannelState) => {
    over = true;
    events.end({ status, error, opened, waited: parked, fatal });
  };
  const clearParked = () => {
    if (parkedTimer !== null) clearTimeout(parkedTimer);
    parkedTimer = null;
  };

  const poll = async (): Promise<void> => {
    timer = null;
    const request = new AbortController();
    controller = request;
    const startedAt = now();
    // fetch cannot tell when the daemon parks a request; one still unanswered after a
    // moment was accepted (a refusal or an unreachable daemon answers sooner).
    parked = false;
    parkedTimer = setTimeout(() => {
      parked = true;
      open();
    }, PARKED_MS);
    let response: Response;
    let body = '';
    try {
      response = await fetch(url, {
        method: 'GET',
        headers: cursor ? cursorHeaders(cursor) : {},
        credentials: 'include',
        mode: 'cors',
        cache: 'no-store',
        signal: request.signal,
      });
      if (response.status === 200) body = await response.text();
    } catch (error) {
      clearParked();
      if (request.signal.aborted || over) return;
      end(0, error instanceof Error ? error : new Error(String(error)));
      return;
    } finally {
      controller = null;
    }
    clearParked();
    if (over) return;
    const status = response.status;
    if (status === 200) {
      const lastModified = response.headers.get('Last-Modified');
      const etag = readEtag(response.headers);
      if (lastModified === null || etag === null) {
        // Without a cursor the next poll would return this same message again, forever.
        end(
          200,
          new Error(
            `the answer from ${url} has no readable Last-Modified and Etag headers; ` +
              'a cross-origin daemon must send Access-Control-Expose-Headers: Last-Modified, Etag',
          ),
          'failed',
        );
        return;
      }
      open();
      cursor = { lastModified, etag };
      const seconds = Date.parse(lastModified);
      const id = Number.isNaN(seconds) ? null : `${Math.floor(seconds / 1000)}:${etag}`;
      events.message(id, body, cursor);
      // A page catching up reads the buffer quickly.
      if (!over) poll();
    } else if (status === 304 || status === 408) {
      // Nothing newer (interval polling) or the daemon's wait timed out: ask again with
      // the same cursor, never in a loop with a daemon that answers at once.
      open();
      const wait = pollWait(startedAt);
      if (wait === 0) poll();
      else timer = setTimeout(poll, wait);
    } else {
      end(status, new Error(`the daemon answered ${status} for ${url}`));
    }
  };

  poll();
  return {
    transport: 'longpoll',
    requestUrl: url,
    close() {
      over = true;
      clearParked();
      if (timer !== null) clearTimeout(timer);
      timer = null;
      if (controller) controller.abort();
    },
  };
}
