/**
 * Connections to the daemon, and which channels share one. Every channel whose
 * descriptor names the same multiplexed location (`/multi/a,b,c`) is followed on one
 * connection; a channel without one (a plain URL, or `multiplex: false`) on a
 * connection of its own. Subscribing or unsubscribing re-plans once per task: the
 * connections whose set changed close, new ones open, each channel resuming from its
 * own position.
 *
 * A connection tries EventSource first and long-polls when the page has no EventSource
 * or the stream cannot open (`transport: 'auto'`); `transport` pins one. After any end
 * it reconnects with a capped, jittered back-off, from the last message id it read.
 */
import { type Channel, channels } from './channel.js';
import { emit, warn, whenDocumentReady } from './events.js';
import { now, options, pollWait, retryDelay } from './options.js';
import {
  type Cursor,
  cursorFromId,
  FIRST_CURSOR,
  type Position,
  parseMessageId,
  resumeId,
} from './protocol.js';
import { isStreamBody, streamUpdate } from './streams.js';
import {
  hasEventSource,
  openEventSource,
  openLongPoll,
  openWebSocket,
  type Session,
  type SessionEnd,
} from './transports.js';
import type { ChannelState, Transport } from './types.js';

/** Nchan's limit of channels on one multiplexed connection. */
const MAX_IDS = 255;
/** Longest joined id list put on one URL (Nchan accepted 1,019 characters, refused 2,900). */
const MAX_IDS_LENGTH = 1000;
/** 410 answers in a row to requests that did not wait, after which a channel is `gone`. */
const GONE_AFTER = 3;

/** The connections open now, by URL. */
const connections = new Map<string, Connection>();

/** Every connection, for the page's CSP reports. */
export function allConnections(): Iterable<Connection> {
  return connections.values();
}

/**
 * One URL followed for the channels of its slots: a slot is one channel id on a
 * multiplexed URL (position i of the URL) or one plain URL; several names can share one.
 */
export class Connection {
  private session: Session | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private failures = 0;
  private refusedAsGone = 0;
  private longPollFallback = false;
  /** An EventSource opened on this URL before: a later failure to open is an outage. */
  private streamWorked = false;
  private startedAt = Number.NEGATIVE_INFINITY;
  /** The last message id read on this connection: where a reconnection resumes. */
  private streamId: string | null = null;
  running = false;

  constructor(
    readonly url: string,
    readonly slots: readonly string[],
  ) {}

  /** The active channels of slot `index`. */
  private channelsOf(index: number): Channel[] {
    const key = this.slots[index];
    return [...channels.values()].filter((channel) => channel.active && slotKey(channel) === key);
  }

  private members(): Channel[] {
    const members: Channel[] = [];
    for (let index = 0; index < this.slots.length; index++) {
      members.push(...this.channelsOf(index));
    }
    return members;
  }

  /** The URL the page's CSP may have refused (with its resume parameter, if any). */
  get requestUrl(): string {
    return this.session ? this.session.requestUrl : this.url;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.open();
  }

  /** Close the session and any pending reconnection; the channels' states are left alone. */
  stop(): void {
    this.running = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const session = this.session;
    this.session = null;
    if (session) session.close();
    if (connections.get(this.url) === this) connections.delete(this.url);
  }

  private transportToUse(): Transport {
    if (options.transport !== 'auto') return options.transport;
    return this.longPollFallback || !hasEventSource() ? 'longpoll' : 'eventsource';
  }

  private open(): void {
    if (!this.running) return;
    const transport = this.transportToUse();
    this.setStates('connecting', transport);
    this.startedAt = now();
    const resume =
      this.streamId !== null
        ? this.streamId
        : resumeId(this.slots.map((_key, index) => earliest(this.channelsOf(index))));
    const events = {
      open: () => this.onOpen(transport),
      message: (id: string | null, body: string, cursor: Cursor | null) =>
        this.onMessage(id, body, cursor),
      end: (end: SessionEnd) => this.onEnd(transport, end),
    };
    if (transport === 'eventsource') {
      this.session = openEventSource(this.url, resume, events);
    } else if (transport === 'websocket') {
      this.session = openWebSocket(this.url, resume, events);
    } else {
      this.session = openLongPoll(this.url, this.longPollStart(resume), events);
    }
  }

  /**
   * Where a long-poll starts: the resume id as a cursor; on a channel's own URL with
   * nothing to resume from, the cursor its daemon last wrote (a daemon whose ids are not
   * Nchan's) or the seed's first cursor; on a multiplexed URL no cursor (the oldest).
   */
  private longPollStart(resume: string | null): Cursor | null {
    if (resume !== null) return cursorFromId(resume);
    if (this.slots.length > 1) return null;
    const known = this.channelsOf(0).find((channel) => channel.cursor !== null);
    return known ? known.cursor : FIRST_CURSOR;
  }

  private onOpen(transport: Transport): void {
    this.failures = 0;
    if (transport === 'eventsource') this.streamWorked = true;
    this.setStates('open', transport);
  }

  private onMessage(idText: string | null, body: string, cursor: Cursor | null): void {
    this.refusedAsGone = 0;
    let id = parseMessageId(idText);
    // An id must name one of this URL's channels (a one-channel id only on a one-slot URL).
    if (id !== null && (id.tags.length !== this.slots.length || id.source >= this.slots.length)) {
      id = null;
    }
    if (idText !== null && id !== null) this.streamId = idText;
    const source = id ? id.source : 0;
    const receivers = this.channelsOf(source);
    const data = parseMessage(body, receivers[0], this.url);
    let written = cursor;
    if (written === null && id !== null && idText !== null) written = cursorFromId(idText);
    const lastModified = written === null ? null : written.lastModified;
    const etag = written === null ? null : written.etag;
    for (const channel of receivers) {
      if (this.slots.length === 1 && cursor !== null) channel.cursor = cursor;
      channel.receive(id, data, lastModified, etag);
    }
    if (id === null) return;
    // The other tags name those channels' own last message in that second: read too. (A
    // `-` says nothing of their earlier messages' ids, and Nchan resumes a one-channel
    // id only from a real tag.)
    for (let index = 0; index < this.slots.length; index++) {
      if (index === source || id.tags[index] < 0) continue;
      const position = { time: id.time, tag: id.tags[index] };
      for (const channel of this.channelsOf(index)) channel.advance(position);
    }
  }

  private onEnd(transport: Transport, end: SessionEnd): void {
    this.session = null;
    if (!this.running) return;
    if (end.fatal) {
      this.fail(end.fatal, end.status, end.error.message);
      return;
    }
    if (
      transport === 'eventsource' &&
      !end.opened &&
      !this.streamWorked &&
      options.transport === 'auto'
    ) {
      // The stream could not open (and never did here): long-poll now; if the daemon then
      // turns out to be unreachable, EventSource was not to blame and is tried again.
      this.longPollFallback = true;
      this.open();
      return;
    }
    if (transport === 'longpoll' && end.status === 0) this.longPollFallback = false;
    const status = end.status;
    if (status === 410) {
      // Nchan ends every waiting subscriber with 410 both when a channel is deleted and
      // when nginx reloads or stops, and a deleted channel subscribed again simply waits:
      // reconnect. Only a daemon that keeps refusing new requests with 410 at once means
      // the channel is gone.
      this.refusedAsGone = end.waited ? 0 : this.refusedAsGone + 1;
      if (this.refusedAsGone >= GONE_AFTER) {
        this.fail('gone', status, `the channel at ${this.url} is gone (410 Gone)`);
        return;
      }
    } else if (status >= 400 && status < 500 && status !== 408) {
      this.fail(
        'failed',
        status,
        `the daemon refused ${this.url} with ${status}; check the channel URL and the daemon's allowOrigin`,
      );
      return;
    }
    this.retry(transport, end);
  }

  /** Back off (an `error` event for each channel says so), then open again from the last id read. */
  private retry(transport: Transport, end: SessionEnd): void {
    const delay = Math.max(retryDelay(this.failures), pollWait(this.startedAt));
    this.failures += 1;
    for (const channel of this.members()) {
      emit('error', {
        channel: channel.name,
        url: channel.url,
        status: end.status,
        error: end.error,
        retryIn: delay,
        fatal: false,
      });
    }
    this.setStates('retrying', transport, delay);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.open();
    }, delay);
  }

  /**
   * Stop for good: every channel of the connection in `state`, a fatal `error` event each,
   * and `message` on the console.
   */
  fail(
    state: ChannelState,
    status: number,
    message: string,
    log: (message: string) => void = warn,
  ): void {
    const members = this.members();
    const transport = this.session ? this.session.transport : null;
    this.stop();
    const error = new Error(`pushserver: ${message}`);
    for (const channel of members) {
      channel.setState(state, transport);
      emit('error', {
        channel: channel.name,
        url: channel.url,
        status,
        error,
        retryIn: null,
        fatal: true,
      });
    }
    log(error.message);
  }

  private setStates(state: ChannelState, transport: Transport, retryIn: number | null = null) {
    for (const channel of this.members()) channel.setState(state, transport, retryIn);
  }
}

/** The earliest position among channels (null when one has none). */
function earliest(list: readonly Channel[]): Position | null {
  let result: Position | null = null;
  for (const channel of list) {
    const position = channel.position;
    if (position === null) return null;
    if (result === null || position.time < result.time) result = position;
    else if (position.time === result.time && position.tag < result.tag) result = position;
  }
  return result;
}

/**
 * The message's JSON, live HTML as a {@link streamUpdate}, or undefined (reported) when
 * it is empty or neither.
 */
function parseMessage(body: string, channel: Channel | undefined, url: string): unknown {
  const name = channel ? channel.name : url;
  if (body === '') {
    warn(`pushserver: an empty message arrived on channel "${name}"`);
    return undefined;
  }
  if (isStreamBody(body)) return streamUpdate(body);
  try {
    return JSON.parse(body);
  } catch (error) {
    emit('error', {
      channel: channel ? channel.name : null,
      url,
      status: 200,
      error: new Error(
        `pushserver: a message on channel "${name}" is not JSON: ${(error as Error).message}`,
      ),
      retryIn: null,
      fatal: false,
    });
    return undefined;
  }
}

/** The slot a channel is followed in: its multiplexed location and id, or its own URL. */
function slotKey(channel: Channel): string {
  const multiplex = options.multiplex ? channel.multiplex : null;
  if (!multiplex) return `url ${channel.url}`;
  return `multi ${multiplex.prefix}\n${multiplex.suffix}\n${multiplex.delimiter}\n${multiplex.id}`;
}

let planned = false;

/** Re-plan the connections once the current task is done and the page has loaded (several subscribes, one plan). */
export function schedulePlan(): void {
  if (planned) return;
  planned = true;
  // While the page loads, later snippets (another subscribe, a stream_from) may add
  // channels: plan once it has loaded, so the page opens its one connection once.
  queueMicrotask(() => whenDocumentReady(plan));
}

/** Close every connection; the next plan opens what is wanted (after `configure`). */
export function restartAll(): void {
  for (const connection of [...connections.values()]) connection.stop();
  schedulePlan();
}

/** Close every connection without touching the channels' states (`pagehide`). */
export function stopAll(): void {
  for (const connection of [...connections.values()]) connection.stop();
}

/**
 * Work out the URLs the active channels need, keep the connections already on one of
 * them, close the others, open the missing ones.
 */
function plan(): void {
  planned = false;
  const wanted = new Map<string, string[]>();
  const groups = new Map<string, { channel: Channel; slots: string[] }>();
  for (const channel of channels.values()) {
    if (!channel.active) continue;
    const key = slotKey(channel);
    const multiplex = options.multiplex ? channel.multiplex : null;
    if (!multiplex) {
      wanted.set(channel.url, [key]);
      continue;
    }
    const groupKey = `${multiplex.prefix}\n${multiplex.suffix}\n${multiplex.delimiter}`;
    let group = groups.get(groupKey);
    if (!group) {
      group = { channel, slots: [] };
      groups.set(groupKey, group);
    }
    if (!group.slots.includes(key)) group.slots.push(key);
  }
  for (const { slots } of groups.values()) {
    for (const chunk of chunks(slots)) {
      wanted.set(urlOf(chunk), chunk);
    }
  }
  for (const [url, connection] of [...connections]) {
    if (!wanted.has(url) || !connection.running) connection.stop();
  }
  for (const [url, slots] of wanted) {
    if (connections.has(url)) continue;
    const connection = new Connection(url, slots);
    connections.set(url, connection);
    connection.start();
  }
}

/** Slots of one multiplexed location split to fit Nchan's limits per connection. */
function chunks(slots: readonly string[]): string[][] {
  const result: string[][] = [];
  let current: string[] = [];
  let length = 0;
  for (const slot of slots) {
    const id = multiplexOfSlot(slot).id;
    if (
      current.length > 0 &&
      (current.length >= MAX_IDS || length + 1 + id.length > MAX_IDS_LENGTH)
    ) {
      result.push(current);
      current = [];
      length = 0;
    }
    current.push(slot);
    length += (current.length > 1 ? 1 : 0) + id.length;
  }
  if (current.length > 0) result.push(current);
  return result;
}

/** A multiplexed slot's parts, read back from its key. */
function multiplexOfSlot(slot: string) {
  const [prefix, suffix, delimiter, id] = slot.slice('multi '.length).split('\n');
  return { prefix, suffix, delimiter, id };
}

/**
 * The URL of a set of slots: a single slot is followed on its channel's own URL (ids are
 * then one-channel ids, as from any daemon); several on the multiplexed one.
 */
function urlOf(slots: readonly string[]): string {
  if (slots.length === 1) {
    const channel = [...channels.values()].find(
      (candidate) => candidate.active && slotKey(candidate) === slots[0],
    ) as Channel;
    return channel.url;
  }
  const first = multiplexOfSlot(slots[0]);
  const ids = slots.map((slot) => multiplexOfSlot(slot).id);
  return `${first.prefix}${ids.join(first.delimiter)}${first.suffix}`;
}
