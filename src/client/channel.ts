/**
 * A subscribed channel, under the name the page gave it: where it has been read to, its
 * state, and the delivery of its messages (each once: a message at or before its
 * position, which a resumed connection may send again, is dropped). The network work is
 * the connection's (connection.ts): several channels can share one.
 */
import { emit, whenDocumentReady } from './events.js';
import { deliver } from './processors.js';
import { type Cursor, comparePositions, type MessageId, type Position } from './protocol.js';
import type { ChannelState, Multiplex, Transport } from './types.js';

/** name -> Channel, for every channel subscribed and not unsubscribed. */
export const channels = new Map<string, Channel>();

/** Where a channel was read to, kept after it stops, so subscribing again resumes there. */
export interface Resume {
  url: string;
  position: Position | null;
  cursor: Cursor | null;
}

/** name -> where it was, for channels subscribed before. */
export const resumes = new Map<string, Resume>();

/** States after which a channel follows nothing until it is subscribed again. */
export const TERMINAL_STATES: readonly ChannelState[] = ['gone', 'failed', 'closed'];

/**
 * A subscribed channel.
 *
 * @example const channel = new Channel('room', url, null, null, { time: 1796323864, tag: -1 });
 */
export class Channel {
  state: ChannelState = 'idle';
  transport: Transport | null = null;
  /** Paused by `pagehide`: no connection until `pageshow`. */
  paused = false;
  /** Every message up to here was delivered (null: none yet, start from the oldest). */
  position: Position | null;
  /**
   * The last long-poll answer's cursor exactly as the daemon wrote it, for a connection
   * of this channel alone (a daemon whose ids are not Nchan's still resumes).
   */
  cursor: Cursor | null;

  constructor(
    readonly name: string,
    readonly url: string,
    readonly multiplex: Multiplex | null,
    resume: Resume | null,
    start: Position | null = null,
  ) {
    const resumed = resume ? resume.position : null;
    // A page rendered after this channel was last read here shows what came before it.
    this.position =
      start !== null && (resumed === null || comparePositions(start, resumed) > 0)
        ? start
        : resumed;
    this.cursor = resume && this.position === resumed ? resume.cursor : null;
  }

  /** Whether it wants a connection: subscribed, not stopped for good, not paused. */
  get active(): boolean {
    return !this.paused && !TERMINAL_STATES.includes(this.state);
  }

  /**
   * A message of this channel arrived: deliver it unless it was delivered before.
   *
   * @param id its id, or null from a daemon whose ids are not Nchan's (always delivered)
   * @param data the parsed message
   */
  receive(id: MessageId | null, data: unknown, lastModified: string | null, etag: string | null) {
    if (id !== null) {
      const position = { time: id.time, tag: id.tags[id.source] };
      if (this.position !== null && comparePositions(position, this.position) <= 0) return;
      this.position = position;
    }
    this.remember();
    if (data === undefined) return;
    const update = { channel: this.name, url: this.url, data, lastModified, etag };
    whenDocumentReady(() => deliver(update));
  }

  /**
   * The connection read past `position` without a message of this channel (the other
   * tags of a multiplexed id): a later resume starts there.
   */
  advance(position: Position): void {
    if (this.position !== null && comparePositions(position, this.position) <= 0) return;
    this.position = position;
    this.remember();
  }

  /** Keep where this channel is, under its name and URL, for a later subscribe. */
  remember(): void {
    resumes.set(this.name, { url: this.url, position: this.position, cursor: this.cursor });
  }

  /** Emit a `state` event when the state or the transport changes. */
  setState(state: ChannelState, transport: Transport | null, retryIn: number | null = null) {
    if (state === this.state && transport === this.transport) return;
    const previous = this.state;
    this.state = state;
    this.transport = transport;
    emit('state', {
      channel: this.name,
      url: this.url,
      state,
      previous,
      transport,
      retryIn,
    });
  }
}
