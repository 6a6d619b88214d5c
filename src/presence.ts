/**
 * Who is on a channel, from the `channelSubscribe` / `channelUnsubscribe` signals,
 * without flapping: a long-poll client unsubscribes and subscribes again after every
 * delivered update, and an EventSource reconnects after a network blip, so a user
 * counts as gone only after being away for a grace period.
 *
 * @module
 */
import { signals } from './signals.js';

/** A user on a channel, as `join` / `leave` listeners receive it. */
export interface PresenceEvent {
  channelId: string;
  /** The key `identify` returned for the user. */
  user: string;
}

/** Options of {@link trackPresence}. */
export interface PresenceOptions<Req = unknown> {
  /**
   * The user behind a notification request: a stable key (user id, name), or
   * undefined / null to ignore the request (an anonymous visitor).
   */
  identify: (req: Req) => string | number | null | undefined;
  /** Milliseconds a user must be gone from a channel before `leave` is reported. @default 10000 */
  graceMs?: number;
  /** Called once when a user arrives on a channel. */
  onJoin?: (event: PresenceEvent) => void;
  /** Called once when a user has been gone from a channel for `graceMs`. */
  onLeave?: (event: PresenceEvent) => void;
}

/** A running presence tracker. */
export interface PresenceTracker {
  /** Users on `channelId` now (including those inside their grace period), in arrival order. */
  present(channelId: string): string[];
  /** Add a `join` or `leave` listener; returns a function that removes it. */
  on(event: 'join' | 'leave', listener: (event: PresenceEvent) => void): () => void;
  /** Stop listening to the signals, cancel grace timers and forget everyone (no `leave` is reported). */
  stop(): void;
}

interface Visit {
  /** Subscriptions of this user on this channel right now (tabs, overlapping polls). */
  connections: number;
  /** Runs `leave` when the grace period ends with no connection back. */
  timer: NodeJS.Timeout | undefined;
}

/**
 * Start tracking presence from the passthrough signals. A user joins a channel
 * when their first subscription arrives and leaves `graceMs` after their last one
 * ended, unless one came back meanwhile. Several tabs of one user count once.
 * Listeners that throw are reported on stderr and do not affect the others.
 *
 * @param options `identify` (required), `graceMs`, `onJoin`, `onLeave`
 * @returns the tracker: `present(channelId)`, `on('join' | 'leave', fn)`, `stop()`
 * @example
 * const presence = trackPresence({ identify: (req) => req.session?.user, graceMs: 5000 });
 * presence.on('join', ({ channelId, user }) => sendUpdate(channelId, { type: 'joined', user }));
 * presence.present('room-1'); // ['alice', 'bob']
 */
export function trackPresence<Req = unknown>(options: PresenceOptions<Req>): PresenceTracker {
  const graceMs = options.graceMs ?? 10_000;
  const channels = new Map<string, Map<string, Visit>>();
  const listeners = {
    join: new Set<(e: PresenceEvent) => void>(),
    leave: new Set<(e: PresenceEvent) => void>(),
  };
  if (options.onJoin) listeners.join.add(options.onJoin);
  if (options.onLeave) listeners.leave.add(options.onLeave);

  const userOf = (req: Req): string | undefined => {
    try {
      const user = options.identify(req);
      return user === undefined || user === null || user === '' ? undefined : String(user);
    } catch (error) {
      report('identify', error);
      return undefined;
    }
  };

  const onSubscribe = ({ req, channelId }: { req: Req; channelId: string }) => {
    const user = userOf(req);
    if (user === undefined) return;
    let visits = channels.get(channelId);
    if (!visits) {
      visits = new Map();
      channels.set(channelId, visits);
    }
    const visit = visits.get(user);
    if (visit) {
      visit.connections++;
      clearTimeout(visit.timer);
      visit.timer = undefined;
      return;
    }
    visits.set(user, { connections: 1, timer: undefined });
    notify('join', { channelId, user });
  };

  const onUnsubscribe = ({ req, channelId }: { req: Req; channelId: string }) => {
    const user = userOf(req);
    if (user === undefined) return;
    const visit = channels.get(channelId)?.get(user);
    // An unsubscribe for a visit we never saw start (the tracker started late) is ignored.
    if (!visit || visit.connections === 0) return;
    if (--visit.connections > 0) return;
    visit.timer = setTimeout(() => leave(channelId, user), graceMs);
  };

  const leave = (channelId: string, user: string) => {
    const visits = channels.get(channelId);
    visits?.delete(user);
    if (visits?.size === 0) channels.delete(channelId);
    notify('leave', { channelId, user });
  };

  const notify = (event: 'join' | 'leave', payload: PresenceEvent) => {
    for (const listener of [...listeners[event]]) {
      try {
        listener(payload);
      } catch (error) {
        report(event, error);
      }
    }
  };

  signals.on('channelSubscribe', onSubscribe);
  signals.on('channelUnsubscribe', onUnsubscribe);

  return {
    present(channelId) {
      return [...(channels.get(channelId)?.keys() ?? [])];
    },
    on(event, listener) {
      listeners[event].add(listener);
      return () => listeners[event].delete(listener);
    },
    stop() {
      signals.off('channelSubscribe', onSubscribe);
      signals.off('channelUnsubscribe', onUnsubscribe);
      for (const visits of channels.values()) {
        for (const visit of visits.values()) clearTimeout(visit.timer);
      }
      channels.clear();
    },
  };
}

function report(what: string, error: unknown): void {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  console.error(`pushserver: a presence "${what}" callback failed: ${message}`);
}
