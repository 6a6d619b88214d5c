/*! pushserver 0.1.0 | browser client | BSD-3-Clause
 * Types of static/pushserver/updates.js: window.pushserver.updates and jQuery's $.updates.
 * Built from src/client/ by scripts/build-client.mjs (npm run build): edit the source, not this file.
 */
/**
 * The browser client's public types: the `updates` object, its events and options, and
 * where a page finds it (`window.pushserver.updates`, `$.updates` with jQuery). Users get
 * them as `static/pushserver/updates.d.ts`, which the build emits from this file.
 *
 * @example
 * /// <reference path="node_modules/pushserver/static/pushserver/updates.d.ts" />
 * window.pushserver.updates.on('error', (event) => console.log(event.status, event.retryIn));
 */
/**
 * A channel's state: `connecting`, `open` (the stream is established, or a long-poll was
 * accepted and waits), `retrying` (waiting before reconnecting, after a network error, a
 * 5xx, a stream that ended or a daemon restarting), `paused` (page hidden), `gone` (the
 * daemon keeps answering 410), `failed` (refused by the daemon, or by the page's
 * Content-Security-Policy), `closed` (unsubscribed). `idle` is only ever a `previous`
 * state, before the first connection.
 */
export type ChannelState =
  | 'idle'
  | 'connecting'
  | 'open'
  | 'retrying'
  | 'paused'
  | 'gone'
  | 'failed'
  | 'closed';
/** How a connection reads its channels. */
export type Transport = 'eventsource' | 'websocket' | 'longpoll';
/**
 * Where a channel can share a connection with others: Nchan's multiplexed location
 * (`nchan_channel_id_split_delimiter`), as the server-side helpers render it. The URL of
 * several channels is `prefix + ids.join(delimiter) + suffix`.
 */
export interface Multiplex {
  prefix: string;
  suffix: string;
  delimiter: string;
  /** This channel's id as written in that URL (percent-encoded). */
  id: string;
}
/**
 * A channel as `subscribe()` takes it: its own URL (a string, as the seed's client took
 * it), or its URL and its place on a multiplexed location, as the helpers render it.
 *
 * @example { url: 'http://127.0.0.1:8001/subscriber/room', multiplex: { prefix: 'http://127.0.0.1:8001/multi/', suffix: '', delimiter: ',', id: 'room' } }
 */
export type ChannelSpec =
  | string
  | {
      url: string;
      multiplex?: Multiplex | null;
      /**
       * A message id `time:tag` (or `time:-`: every message before that second) the page
       * already shows: the channel starts after it. Without it, a new channel starts with
       * the oldest message its daemon still buffers.
       */
      after?: string | null;
    };
/** An update, after the processors of its type ran. */
export interface UpdateEvent<T = unknown> {
  /** The channel's name in `subscribe({name: url})`. */
  channel: string;
  url: string;
  /** The JSON the app published. */
  data: T;
  /** The message's `Last-Modified`, or null when the answer had none readable. */
  lastModified: string | null;
  /** The message's counter (`Etag` or py-hbpush's `Cache-Control: etag=<n>`), or null. */
  etag: string | null;
}
/**
 * The `data` of an update that carried live HTML: a message of Turbo Stream elements
 * (`<turbo-stream action="append" target="messages"><template>…</template></turbo-stream>`),
 * which the client applied to the page before the processors of type `turbo-stream` ran.
 */
export interface StreamUpdate {
  type: 'turbo-stream';
  /** The message as it arrived. */
  html: string;
}
/**
 * `detail` of the DOM events `pushserver:before-stream-action` (cancelable: a listener
 * that calls `preventDefault()` skips the action) and `pushserver:stream-action` (after
 * it), dispatched on `document` for each action of a live HTML message.
 */
export interface StreamActionDetail {
  /** The channel's name. */
  channel: string;
  /** `append`, `prepend`, `replace`, `update`, `remove`, `before` or `after`. */
  action: string;
  /** The `target` (an element id) or null. */
  target: string | null;
  /** The `targets` (a CSS selector) or null. */
  targets: string | null;
  /** The elements the action changes (for `remove`, `replace`: the ones it takes out). */
  elements: Element[];
  /** The new content (scripts removed); empty for `remove`. */
  content: DocumentFragment;
}
/** Something went wrong on a channel (or in a `data-pushserver-channels` block). */
export interface ChannelErrorEvent {
  /** The channel's name; null for an unusable data block. */
  channel: string | null;
  url: string | null;
  /**
   * The HTTP status; 0 for a network error or a request the page's Content-Security-Policy
   * refused, null for a throwing processor or a bad block.
   */
  status: number | null;
  /** An `Error`, or whatever a throwing processor threw. */
  error: unknown;
  /** Milliseconds until the client asks again, or null when it will not retry. */
  retryIn: number | null;
  /**
   * True when the channel stopped for good (410, a refusal, a URL the page's
   * Content-Security-Policy blocks in `connect-src`, a bad block).
   */
  fatal: boolean;
}
/** A channel changed state. */
export interface ChannelStateEvent {
  channel: string;
  url: string;
  state: ChannelState;
  previous: ChannelState;
  /** How the channel is (being) read; null before a connection and after a fatal error. */
  transport: Transport | null;
  /** In `retrying`: milliseconds until the next attempt; otherwise null. */
  retryIn: number | null;
}
/** The event types `updates.on()` takes, with what each listener receives. */
export interface UpdatesEventMap {
  update: UpdateEvent;
  error: ChannelErrorEvent;
  state: ChannelStateEvent;
}
/** The client's options, changed with `updates.configure()`. Times in milliseconds. */
export interface UpdatesOptions {
  /**
   * `auto`: EventSource, or long-poll where the page has no EventSource or the stream
   * cannot open. `eventsource`, `websocket` (Nchan's `ws+meta.nchan`) or `longpoll` pins one.
   * @default 'auto'
   */
  transport: Transport | 'auto';
  /**
   * Follow every channel of a multiplexed location on one connection; `false` gives each
   * channel a connection to its own URL (a daemon without a multiplexed location).
   * @default true
   */
  multiplex: boolean;
  /**
   * Event names of messages published with an `X-EventSource-Event` header to read over
   * EventSource, which hands a named message only to listeners of its name (long-poll
   * and WebSocket carry every message without its name). Messages named `message`,
   * `open` or `error` are always read; those of other names not listed here are skipped.
   * @default []
   */
  eventNames: string[];
  /**
   * Delay before the first retry after a network error or a 5xx; it doubles with each
   * failure in a row.
   * @default 1000
   */
  retryDelay: number;
  /**
   * Upper bound of the doubling retry delay.
   * @default 30000
   */
  maxRetryDelay: number;
  /**
   * Each retry delay is randomised by up to this fraction, either way.
   * @default 0.2
   */
  jitter: number;
  /**
   * Least time between the starts of two requests of one connection, unless the first one
   * brought a message (200): a daemon that answers 304 (interval polling), 408 or an error
   * at once, or a stream that ends at once, is asked at most once per this interval. A 408
   * after a long wait is re-polled at once.
   * @default 1000
   */
  minPollInterval: number;
}
/** `processor(data)` for each update of one channel and type. */
export type Processor<T = Record<string, unknown>> = (data: T) => void;
/** The client's API: `window.pushserver.updates`, and `$.updates` on a page with jQuery. */
export interface Updates {
  /**
   * Subscribe to channels: `{name: channelUrl, ...}`, or `{name: {url, multiplex}}` as the
   * helpers render it (channels on one multiplexed location share a connection). A name
   * already subscribed is left alone; a falsy value is skipped. Subscribing a name again
   * after `unsubscribe` resumes after the last update it received from the same URL.
   *
   * @example $.updates.subscribe({ room: 'http://127.0.0.1:8001/subscriber/lobby' });
   */
  subscribe(channels: Record<string, ChannelSpec | null | undefined>): void;
  /**
   * Stop listening to channel `name` (its request is aborted); its processors stay.
   *
   * @returns whether it was subscribed
   */
  unsubscribe(name: string): boolean;
  /**
   * Call `processor(data)` for every update on channel `name` whose `data.type` is `type`,
   * in registration order.
   *
   * @example $.updates.registerProcessor<{ text: string }>('room', 'message', (data) => show(data.text));
   */
  registerProcessor<T = Record<string, unknown>>(
    name: string,
    type: string,
    processor: Processor<T>,
  ): void;
  /**
   * Listen to `update`, `error` or `state` events.
   *
   * @returns a function that removes the listener
   */
  on<K extends keyof UpdatesEventMap>(
    type: K,
    listener: (event: UpdatesEventMap[K]) => void,
  ): () => void;
  /** Remove a listener added with `on`. */
  off<K extends keyof UpdatesEventMap>(
    type: K,
    listener: (event: UpdatesEventMap[K]) => void,
  ): void;
  /** The state of channel `name`, or undefined when it is not subscribed. */
  state(name: string): Exclude<ChannelState, 'idle'> | undefined;
  /** How channel `name` is read now, or null (not connected, or not subscribed). */
  transport(name: string): Transport | null;
  /**
   * Change the options; a new `transport` or `multiplex` re-opens the connections (each
   * channel resumes where it was).
   *
   * @returns the options now in use (a copy)
   * @example window.pushserver.updates.configure({ transport: 'longpoll' });
   */
  configure(changes?: Partial<UpdatesOptions>): UpdatesOptions;
}
/** `window.pushserver`. */
export interface PushserverNamespace {
  updates: Updates;
}
declare global {
  interface Window {
    pushserver: PushserverNamespace;
  }
  /** jQuery's `$` / `jQuery` (from `@types/jquery` when installed), with `$.updates`. */
  interface JQueryStatic {
    updates: Updates;
  }
}
