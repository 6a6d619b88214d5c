/**
 * What the streaming transports share: the output a subscription drives (one per
 * subscriber, whatever its transport) and the byte sink an EventSource stream writes to.
 * The transports themselves live in `eventsource.ts` and `websocket.ts`, as Nchan keeps
 * one file per subscriber type.
 *
 * @module
 */
import type { MultiId } from '../protocol/message-id.js';
import type { Message } from '../store/types.js';

/**
 * Bytes a stream subscriber may have waiting to be sent before it is dropped: a reader
 * that stops reading loses its connection instead of holding the daemon's memory. A
 * message larger than this still goes out to a reader that keeps up (the check is made
 * before each write).
 */
export const STREAM_BUFFER_LIMIT = 4 * 1024 * 1024;

/** Why a subscription ends from the daemon's side. */
export type EndReason =
  /** The channel (one of them) was deleted: Nchan's 410. */
  | 'gone'
  /** The location's `subscriberTimeout` passed: Nchan's 408. */
  | 'timeout'
  /** The daemon is stopping (Nchan sends 410 then too). */
  | 'shutdown'
  /** An interval poll with nothing newer: 304 (polls only). */
  | 'not-modified';

/**
 * Where a subscription's messages go: an EventSource or WebSocket connection, or one
 * long-poll answer (a multiplexed poll).
 */
export interface SubscriptionOutput {
  /** The transport's name, for the request log. */
  readonly transport: 'longpoll' | 'eventsource' | 'websocket';
  /** Long-lived (EventSource, WebSocket); false: the first message or end answers it. */
  readonly stream: boolean;
  /** The subscriber is accepted: write the stream's head. Called once, before any message. */
  open(): void;
  /** Answer with an HTTP error instead of opening (e.g. 404 for an unknown channel). */
  refuse(status: number): void;
  /** Nothing to send yet: the subscriber waits (a long-poll is parked). */
  parked(): void;
  /**
   * Send one message.
   *
   * @param message the stored message
   * @param id the subscriber's position after it (Nchan's id of this message for it)
   */
  message(message: Message, id: MultiId): void;
  /**
   * End from the daemon's side (the output closes its connection).
   *
   * @param reason why
   * @param id the subscriber's position (a long-poll's 410 echoes it)
   */
  end(reason: EndReason, id: MultiId): void;
}

/** The byte stream of an answer with no length (an EventSource response). */
export interface StreamSink {
  write(bytes: string | Buffer): void;
  /** Bytes written and not yet handed to the network. */
  readonly buffered: number;
  /** Finish the answer and close the connection. */
  end(): void;
  /** Close at once, dropping what was not sent. */
  destroy(): void;
  /** The connection is already closed (its client left before the stream began). */
  readonly closed: boolean;
  /** `listener` runs once when the connection closes, whoever closed it. */
  onClose(listener: () => void): void;
}
