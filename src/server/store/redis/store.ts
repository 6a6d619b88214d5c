/**
 * The Redis store: messages that survive a daemon restart, shared by any number of
 * daemons. Every change is one Lua script (see `scripts.ts`), so ids are
 * assigned by Redis atomically and strictly increase per channel whichever daemon
 * publishes; each daemon holds one pub/sub subscription and turns the store's
 * announcements into {@link StoreEvent}s for its own waiting subscribers.
 *
 * `ioredis` is an optional peer dependency: it is imported when a Redis store opens,
 * never when this module loads.
 *
 * @module
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Redis as RedisClient, RedisOptions } from 'ioredis';
import type { ResolvedStore } from '../../../settings/index.js';
import {
  type ChannelInfo,
  compareIds,
  type MessageId,
  type NewMessage,
  type NextResult,
  type PublishResult,
  type Store,
  type StoreEvent,
  type StoreListener,
  type StoreStats,
} from '../types.js';
import {
  AFTER,
  ALL_SCRIPTS,
  type ChannelScope,
  DELETE,
  HEARTBEAT,
  INFO,
  NEXT,
  type NextReply,
  PUBLISH,
  type PublishReply,
  parseEvent,
  type RedisScript,
  SUBSCRIBERS,
} from './scripts.js';

/** Seconds a publish's idempotency key is remembered. */
const IDEMPOTENCY_TTL = 3600;
/** Seconds the store's own key of a publish is remembered, to resend it without storing it twice. */
const RESEND_TTL = 60;
/** Seconds a channel without messages (created by a subscriber) is kept after its last use. */
const IDLE_CHANNEL_TTL = 60;
/** Redis versions before this lack `XRANGE` exclusive ranges and `XTRIM MINID`. */
const MIN_REDIS_VERSION = [6, 2];

/** Options of {@link createRedisStore} beyond the store settings. */
export interface RedisStoreOptions {
  /** Where outage and recovery lines go. @default console.error */
  log?: (line: string) => void;
  /** How often this daemon tells Redis it is alive, in ms; its subscribers stop counting 3 beats after it dies. @default 5000 */
  heartbeat?: number;
  /** Longest wait between reconnection attempts, in ms. @default 2000 */
  maxBackoff?: number;
  /** Milliseconds a Redis command may take before it fails. @default 2000 */
  commandTimeout?: number;
  /**
   * Milliseconds a publish whose connection broke while Redis ran it waits for the
   * connection to resend it (stored once either way); after that it fails with 503.
   * Keep the sum with `commandTimeout` below the app's `publishTimeout`. @default 2000
   */
  resendWindow?: number;
}

/**
 * Redis cannot be reached: at start (the CLI exits with status 2), or while running
 * (the daemon answers 503 and keeps waiting subscribers waiting while the store
 * reconnects). A publish that failed this way was not stored ("is unreachable; nothing
 * was stored"), unless the connection broke while Redis was running it and did not come
 * back within `resendWindow` (`maybeStored`, "failed during the request"); a retry
 * with the same {@link NewMessage.idempotencyKey} (remembered for an hour) is stored
 * once either way.
 *
 * @example
 * try { await store.publish('room', msg, { create: true }); }
 * catch (error) { if (error instanceof RedisUnavailableError) reply(error.status, error.message); }
 */
export class RedisUnavailableError extends Error {
  /** The HTTP status the daemon answers with. */
  readonly status = 503;
  /** The command reached Redis before the connection broke: it may have been applied. */
  readonly maybeStored: boolean;
  constructor(message: string, options?: { cause?: unknown; maybeStored?: boolean }) {
    super(message, options);
    this.name = 'RedisUnavailableError';
    this.maybeStored = options?.maybeStored ?? false;
  }
}

/**
 * Create a Redis store for `store: {type: 'redis', url, keyPrefix, ...}`. Nothing
 * connects until {@link Store.open}, which rejects with {@link RedisUnavailableError}
 * when Redis is unreachable or older than 6.2.
 *
 * @param settings the resolved store settings (`url`, `keyPrefix`, buffer limits)
 * @param options logging and timing
 * @returns a {@link Store} shared with every daemon using the same Redis and `keyPrefix`
 * @example
 * const store = createRedisStore(resolveSettings({ store: { type: 'redis', url: 'redis://127.0.0.1:6379' } }).stores.default);
 * await store.open();
 */
export function createRedisStore(settings: ResolvedStore, options: RedisStoreOptions = {}): Store {
  return new RedisStore(settings, options);
}

/**
 * What this daemon knows of a channel from its live subscription and its reads. A view
 * holds only while the subscription has been up since it was made: every view is
 * dropped when a connection is lost, and none is made again before the catch-up has
 * listed the channels it reads. It is kept while a poll of this daemon reads or waits
 * on the channel, and until the heartbeat after that.
 */
interface ChannelView {
  /**
   * Every message after this one reaches the listeners on the live subscription (or by
   * the catch-up after an outage), and no poll of this daemon needs one up to it: the
   * catch-up starts after it, and an announcement up to it is a repeat. Set by the
   * first announcement or read reply after the view was made, then by announcements
   * only (a read's `last` may not have been announced yet: a poll may still need it).
   */
  heard: MessageId | undefined;
  /**
   * The newest message of the channel this daemon knows of, from announcements and the
   * replies of reads sent since the view was made; it never goes back (a reply can come
   * after the announcement of a newer message). Nothing newer has been announced here
   * yet, so a poll at or after it can wait for the announcement.
   */
  newest: MessageId | undefined;
  /** Reads of the channel on their way to Redis: the heartbeat keeps the view for them. */
  reads: number;
}

/** A channel to catch up after a lost subscription. */
interface CatchUp {
  /** Where the catch-up starts (`heard` of the channel's view then); undefined: from the oldest message. */
  after: MessageId | undefined;
  /** Live events of the channel that came before the catch-up's read: announced after it, in order. */
  held: StoreEvent[];
}

/** An id before every message (a channel that had none yet). */
const BEFORE_ALL: MessageId = Object.freeze({ time: 0, tag: 0 });

class RedisStore implements Store {
  private readonly prefix: string;
  private readonly where: string;
  private readonly daemonId = randomUUID();
  private readonly log: (line: string) => void;
  private readonly heartbeatMs: number;
  private readonly listeners = new Set<StoreListener>();
  /** Subscribers of this daemon waiting per channel (the truth; Redis gets a copy). */
  private readonly waiting = new Map<string, number>();
  /** What the live subscription and the reads say of the channels polled here. */
  private readonly views = new Map<string, ChannelView>();
  /**
   * Channels whose subscribers waited here when a connection was lost (and, once
   * `behindListed`, every channel waited on when the catch-up started): until each is
   * caught up, its live events are held.
   */
  private readonly behind = new Map<string, CatchUp>();
  /** The catch-up knows every channel it has to read: other channels' events go through. */
  private behindListed = false;
  /** Connection losses so far: a catch-up that sees this change was overtaken by another. */
  private losses = 0;
  private commands: RedisClient | undefined;
  /** Commands sent on the commands connection so far. */
  private commandsSent = 0;
  private events: RedisClient | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private outageSince: number | undefined;
  /** The newest second of any id this daemon has seen. */
  private newestSecond = 0;
  /** Set when Redis came back without its data: new ids start after this second. */
  private lostDataAt = 0;
  /** A reconnect happened and `resync` has not completed yet. */
  private resyncPending = false;
  private resyncing: Promise<void> | undefined;
  private dataChecked: Promise<void> | undefined;
  /** After a reconnect: this daemon's subscriber counts were sent whole again. */
  private countsRewritten = false;
  /** A subscriber count change was not sent: the next heartbeat sends them all. */
  private countsDirty = false;
  /**
   * Subscriber count changes not sent yet, per channel: the delta, and whether a
   * subscriber started (the channel counts as requested). Sent once per turn of the
   * event loop, and before any other command of this daemon, so that a publish or an
   * info that follows a change still sees it.
   */
  private readonly pendingCounts = new Map<string, { delta: number; started: boolean }>();
  private flushScheduled = false;
  private closed = false;

  constructor(
    private readonly settings: ResolvedStore,
    private readonly options: RedisStoreOptions,
  ) {
    this.prefix = settings.keyPrefix;
    this.where = `Redis at ${redactUrl(settings.url)}`;
    this.log = options.log ?? ((line) => console.error(line));
    this.heartbeatMs = options.heartbeat ?? 5000;
  }

  async open(): Promise<void> {
    const { Redis } = await loadIoredis();
    const maxBackoff = this.options.maxBackoff ?? 2000;
    const clientOptions: RedisOptions = {
      lazyConnect: true,
      // Fail at once instead of queueing while disconnected, and never resend a
      // command after a reconnect: a resent publish could be stored twice.
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      commandTimeout: this.options.commandTimeout ?? 2000,
      connectTimeout: 5000,
      retryStrategy: (attempt) => Math.min(maxBackoff, 50 * 2 ** Math.min(attempt, 10)),
    };
    const commands = new Redis(this.settings.url, clientOptions);
    // resync() renews the subscription and handles its failure: ioredis' own renewal is
    // a promise nobody handles (a slow answer made an unhandled rejection).
    const events = commands.duplicate({ autoResubscribe: false });
    // Counted for the status location ("total redis commands sent").
    const send = commands.sendCommand.bind(commands);
    commands.sendCommand = (command, stream) => {
      this.commandsSent++;
      return send(command, stream);
    };
    this.commands = commands;
    this.events = events;
    // ioredis emits one 'error' per failed attempt; the outage is logged once (watch()).
    let refused: unknown;
    commands.on('error', (error) => {
      refused ??= error;
    });
    events.on('error', () => {});
    try {
      await commands.connect();
      await checkVersion(commands, this.where);
      await loadScripts(commands);
      await events.connect();
      await events.subscribe(this.eventsChannel);
      await this.heartbeat(true);
    } catch (error) {
      this.closed = true;
      commands.disconnect();
      events.disconnect();
      if (error instanceof RedisUnavailableError) throw error;
      throw new RedisUnavailableError(
        `${this.where} is unreachable (${reasonOf(refused ?? error)}); start Redis or fix store.url`,
        { cause: error },
      );
    }
    events.on('messageBuffer', (_channel: Buffer, payload: Buffer) => this.receive(payload));
    this.watch(commands, events);
    this.heartbeatTimer = setInterval(() => {
      this.forgetIdleChannels();
      if (this.resyncPending) this.startResync();
      else this.heartbeat(this.countsDirty).catch(() => {});
    }, this.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  async publish(
    channel: string,
    message: NewMessage,
    options: { create: boolean },
  ): Promise<PublishResult | undefined> {
    // Without a key of the app's, a key of our own lets us resend a publish whose
    // fate a broken connection hid: Redis stores it once either way.
    const key = message.idempotencyKey ?? randomUUID();
    const idempotency = `${this.prefix}publish:${sha1(`${channel}\0${key}`)}`;
    const ttl = message.idempotencyKey ? IDEMPOTENCY_TTL : RESEND_TTL;
    const resendUntil = Date.now() + (this.options.resendWindow ?? 2000);
    let reply: PublishReply | undefined;
    for (;;) {
      // A failed check shows in the publish below, which then cannot reach Redis either.
      if (this.resyncPending) await this.checkData().catch(() => {});
      try {
        reply = await this.run(PUBLISH, {
          scope: this.scope(channel),
          idempotencyKey: idempotency,
          idempotencyTtl: ttl,
          eventsChannel: this.eventsChannel,
          create: options.create,
          contentType: message.contentType,
          body: message.body,
          lostDataAt: this.lostDataAt,
          event: message.event,
        });
        break;
      } catch (error) {
        const unsure = error instanceof RedisUnavailableError && error.maybeStored;
        if (!unsure || !(await this.ready(resendUntil))) throw error;
      }
    }
    if (reply === undefined) return undefined;
    this.newestSecond = Math.max(this.newestSecond, reply.id.time);
    return {
      message: {
        id: reply.id,
        contentType: message.contentType,
        body: message.body,
        event: message.event,
      },
      info: reply.info,
    };
  }

  async next(channel: string, cursor: MessageId | null): Promise<NextResult> {
    if (cursor !== null && this.knowsNothingAfter(channel, cursor)) return NOTHING_NEWER;
    // Announcements come on another connection than this reply and may overtake it:
    // the view, made before the read is sent, takes them in, so the reply's older
    // `last` cannot hide them, and the daemon's re-read (WaitingRoom's `dirty`) asks
    // Redis again. Made only while the subscription is up and caught up.
    const view = this.viewsHold() ? this.viewOf(channel) : undefined;
    if (view) view.reads++;
    let reply: NextReply;
    try {
      reply = await this.run(NEXT, { scope: this.scope(channel), start: rangeStart(cursor) });
    } finally {
      if (view) view.reads--;
    }
    const { last } = reply;
    if (last) this.newestSecond = Math.max(this.newestSecond, last.time);
    // A view dropped or made anew meanwhile (a delete, a lost connection) learns
    // nothing from a read sent before.
    if (view && this.views.get(channel) === view) {
      view.heard ??= last ?? BEFORE_ALL;
      if (last && (view.newest === undefined || compareIds(last, view.newest) > 0))
        view.newest = last;
    }
    return { message: reply.message, exists: reply.exists };
  }

  info(channel: string): Promise<ChannelInfo | undefined> {
    return this.run(INFO, { scope: this.scope(channel) });
  }

  delete(channel: string): Promise<ChannelInfo | undefined> {
    return this.run(DELETE, { scope: this.scope(channel), eventsChannel: this.eventsChannel });
  }

  /**
   * Whether the live subscription says the channel has nothing after `cursor`: every
   * message stored in Redis is announced on it (by the script that stores it), so with
   * the subscription up since the view was made, a message after the newest one known
   * is at most on its way, and its announcement wakes the poll. A re-poll then parks
   * without a round trip. Not during or after an outage until the catch-up is done, and
   * not when the newest message may have expired (the channel may be gone).
   */
  private knowsNothingAfter(channel: string, cursor: MessageId): boolean {
    const last = this.views.get(channel)?.newest;
    if (last === undefined || compareIds(cursor, last) < 0) return false;
    if (this.outageSince !== undefined || this.resyncPending) return false;
    if (this.commands?.status !== 'ready' || this.events?.status !== 'ready') return false;
    const timeout = this.settings.messageTimeout;
    return timeout <= 0 || last.time + timeout > Date.now() / 1000 + 1;
  }

  /** Counted here at once; Redis gets the change without the daemon waiting for it. */
  subscriberStarted(channel: string): void {
    this.waiting.set(channel, (this.waiting.get(channel) ?? 0) + 1);
    this.reportSubscribers(channel, +1);
  }

  subscriberStopped(channel: string): void {
    const count = this.waiting.get(channel) ?? 0;
    if (count === 0) return;
    if (count === 1) {
      // The view stays until the heartbeat (forgetIdleChannels): the re-poll that
      // usually follows at once can then park without asking Redis.
      this.waiting.delete(channel);
    } else {
      this.waiting.set(channel, count - 1);
    }
    this.reportSubscribers(channel, -1);
  }

  stats(): StoreStats {
    const commands = this.commands;
    // ioredis keeps the commands sent and not yet answered in this queue.
    const queue = (commands as unknown as { commandQueue?: { length: number } })?.commandQueue;
    return {
      channels: this.waiting.size,
      messages: 0,
      bytes: 0,
      redis: {
        connected: this.outageSince === undefined && commands?.status === 'ready',
        pending: queue?.length ?? 0,
        sent: this.commandsSent,
      },
    };
  }

  onEvent(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.heartbeatTimer);
    const { commands, events } = this;
    if (commands?.status === 'ready') {
      // Our subscribers stop counting now rather than when the heartbeat runs out.
      await commands
        .multi()
        .zrem(this.daemonsKey, this.daemonId)
        .del(this.daemonKey)
        .exec()
        .catch(() => {});
    }
    await Promise.all([quit(commands), quit(events)]);
  }

  private get eventsChannel(): string {
    return `${this.prefix}events`;
  }

  private get daemonsKey(): string {
    return `${this.prefix}daemons`;
  }

  private get daemonKey(): string {
    return `${this.prefix}daemon:${this.daemonId}`;
  }

  private scope(channel: string): ChannelScope {
    const { maxMessages, minMessages, messageTimeout } = this.settings;
    return {
      channelKey: `${this.prefix}channel:${channel}`,
      streamKey: `${this.prefix}messages:${channel}`,
      daemonsKey: this.daemonsKey,
      channel,
      daemonPrefix: `${this.prefix}daemon:`,
      maxMessages,
      minMessages,
      messageTimeout: Math.ceil(messageTimeout),
      idleTtl: Math.max(IDLE_CHANNEL_TTL, Math.ceil(messageTimeout) + 1),
    };
  }

  /** Run a script, loading it on first use; connection problems become RedisUnavailableError. */
  private async run<Args, Reply>(script: RedisScript<Args, Reply>, args: Args): Promise<Reply> {
    const client = this.commands;
    if (!client || this.closed)
      throw new RedisUnavailableError(`${this.where}: the store is closed`);
    if (client.status !== 'ready') throw this.unreachable();
    // Counts changed before this command reach Redis before it.
    if (this.pendingCounts.size > 0) this.flushCounts();
    const { keys, argv } = script.encode(args);
    let reply: unknown;
    try {
      try {
        reply = await client.callBuffer('EVALSHA', [script.sha1, keys.length, ...keys, ...argv]);
      } catch (error) {
        if (!String((error as Error).message).startsWith('NOSCRIPT')) throw error;
        reply = await client.callBuffer('EVAL', [script.lua, keys.length, ...keys, ...argv]);
      }
    } catch (error) {
      if (isServerError(error)) throw error;
      // ioredis refused to send it: the connection is gone and not yet noticed.
      if (/Stream isn't writeable/.test(String((error as Error)?.message)))
        throw this.unreachable();
      throw new RedisUnavailableError(
        `${this.where} failed during the request (${reasonOf(error)}); if it was a publish, it may have been stored`,
        { cause: error, maybeStored: true },
      );
    }
    return script.parse(reply);
  }

  /** Resolve true once the command connection is ready (at once if it is), false at `deadline`. */
  private ready(deadline: number): Promise<boolean> {
    const client = this.commands;
    if (!client || this.closed || Date.now() >= deadline) return Promise.resolve(false);
    if (client.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        client.off('ready', onReady);
        resolve(ok);
      };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(false), Math.max(0, deadline - Date.now()));
      client.on('ready', onReady);
    });
  }

  private unreachable(): RedisUnavailableError {
    return new RedisUnavailableError(
      `${this.where} is unreachable; nothing was stored, retry later`,
    );
  }

  private reportSubscribers(channel: string, delta: number): void {
    // Waiting subscribers keep waiting through an outage: after it, the counts are
    // written whole (checkData), and changes are sent again only after that write.
    if (this.commands?.status !== 'ready' || (this.resyncPending && !this.countsRewritten)) {
      this.countsDirty = true;
      return;
    }
    const pending = this.pendingCounts.get(channel);
    if (pending) {
      pending.delta += delta;
      if (delta > 0) pending.started = true;
    } else {
      this.pendingCounts.set(channel, { delta, started: delta > 0 });
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flushCounts());
    }
  }

  /** Send the pending subscriber count changes; nobody waits for the answers. */
  private flushCounts(): void {
    this.flushScheduled = false;
    if (this.pendingCounts.size === 0) return;
    const changes = [...this.pendingCounts];
    this.pendingCounts.clear();
    for (const [channel, { delta, started }] of changes) {
      this.run(SUBSCRIBERS, {
        scope: this.scope(channel),
        daemonKey: this.daemonKey,
        delta,
        ttlMs: this.heartbeatMs * 3,
        started,
      }).catch((error) => {
        if (!(error instanceof RedisUnavailableError)) {
          this.log(`pushserver: ${this.where} refused a subscriber count: ${reasonOf(error)}`);
        }
      });
    }
  }

  /** Tell Redis this daemon is alive; with `replace`, rewrite all of its subscriber counts. */
  private async heartbeat(replace: boolean): Promise<void> {
    if (replace) this.countsDirty = false;
    try {
      await this.run(HEARTBEAT, {
        daemonsKey: this.daemonsKey,
        daemonKey: this.daemonKey,
        daemonId: this.daemonId,
        aliveMs: this.heartbeatMs * 3,
        counts: replace ? [...this.waiting] : undefined,
      });
    } catch (error) {
      if (replace) this.countsDirty = true;
      throw error;
    }
  }

  /** Drop the views of channels nobody here reads or waits on any more. */
  private forgetIdleChannels(): void {
    for (const [channel, view] of this.views) {
      if (view.reads === 0 && !this.waiting.has(channel)) this.views.delete(channel);
    }
  }

  /** Whether a view made now holds: the subscription is up and, after an outage, caught up. */
  private viewsHold(): boolean {
    return this.outageSince === undefined && !this.resyncPending && this.events?.status === 'ready';
  }

  private viewOf(channel: string): ChannelView {
    let view = this.views.get(channel);
    if (!view) {
      view = { heard: undefined, newest: undefined, reads: 0 };
      this.views.set(channel, view);
    }
    return view;
  }

  /** Log once when a connection is lost and once when both are back; resync then. */
  private watch(commands: RedisClient, events: RedisClient): void {
    const lost = (error?: unknown) => {
      this.dataChecked = undefined;
      this.countsRewritten = false;
      if (this.closed || this.outageSince !== undefined) return;
      this.outageSince = Date.now();
      this.resyncPending = true;
      this.fallBehind();
      const reason = ` (${error ? reasonOf(error) : 'connection closed'})`;
      this.log(
        `pushserver: lost the connection to ${this.where}${reason}; publishes answer 503 until it is back, reconnecting`,
      );
    };
    const ready = () => {
      if (this.closed || this.outageSince === undefined) return;
      if (commands.status !== 'ready' || events.status !== 'ready') return;
      const seconds = ((Date.now() - this.outageSince) / 1000).toFixed(1);
      this.outageSince = undefined;
      this.log(`pushserver: reconnected to ${this.where} after ${seconds} s`);
      this.startResync();
    };
    for (const client of [commands, events]) {
      client.on('error', lost);
      client.on('close', () => lost());
      client.on('ready', ready);
    }
  }

  /**
   * A connection was lost: announcements may be missed from now on. Every channel
   * with subscribers waiting here is to be caught up from what its view had heard, and
   * no view holds any more.
   */
  private fallBehind(): void {
    this.losses++;
    this.behindListed = false;
    for (const channel of this.waiting.keys()) {
      if (!this.behind.has(channel))
        this.behind.set(channel, { after: this.views.get(channel)?.heard, held: [] });
    }
    this.views.clear();
  }

  /**
   * After an outage: give Redis this daemon's subscriber counts again, and announce
   * the messages published while this daemon's subscription was down, so waiting
   * subscribers get them without waiting for the next publish. Live events of a
   * channel that waits for its catch-up are held and announced after it, so a waiting
   * poll never gets a message with an older one still unannounced. Stops when a
   * connection is lost again meanwhile.
   */
  private async resync(): Promise<void> {
    const losses = this.losses;
    // Once SUBSCRIBE is answered the subscription is active again (subscribing twice is
    // harmless, when only the command connection was lost), and the catch-up below
    // misses nothing.
    await this.events?.subscribe(this.eventsChannel);
    await this.checkData();
    if (this.losses !== losses) return;
    // Channels waited on now are caught up too (their polls may have read while the
    // subscription was down); the events of any other channel go through from here on.
    for (const channel of this.waiting.keys()) {
      if (!this.behind.has(channel)) this.behind.set(channel, { after: undefined, held: [] });
    }
    this.behindListed = true;
    for (const [channel, catchUp] of [...this.behind]) {
      const start = catchUp.after ? `(${catchUp.after.time}-${catchUp.after.tag}` : '-';
      const messages = await this.run(AFTER, { scope: this.scope(channel), start });
      if (this.losses !== losses) return;
      this.behind.delete(channel);
      for (const message of messages) this.announce({ type: 'message', channel, message });
      // The next catch-up of this channel can start where this one ended.
      if (this.waiting.has(channel) && !this.views.has(channel))
        this.views.set(channel, {
          heard: catchUp.after ?? BEFORE_ALL,
          newest: undefined,
          reads: 0,
        });
      for (const event of catchUp.held) this.announce(event);
    }
    this.resyncPending = false;
  }

  /**
   * Once per reconnect, before the first publish: did Redis come back empty? This
   * daemon's entry in the daemons set outlives a short outage; without it Redis
   * restarted without its data, and new ids must start after the newest second seen.
   * Then register this daemon and its subscriber counts again.
   */
  private checkData(): Promise<void> {
    this.dataChecked ??= (async () => {
      const commands = this.commands as RedisClient;
      await loadScripts(commands);
      if ((await commands.zscore(this.daemonsKey, this.daemonId)) === null) {
        this.lostDataAt = this.newestSecond;
        // What was heard before may be gone: catch up from the start of each channel.
        for (const catchUp of this.behind.values()) catchUp.after = undefined;
        this.views.clear();
      }
      // The counts go out whole; changes sent after this line reach Redis after them.
      const rewrite = this.heartbeat(true);
      this.countsRewritten = true;
      await rewrite;
    })().catch((error) => {
      this.dataChecked = undefined;
      throw error;
    });
    return this.dataChecked;
  }

  /**
   * Run `resync` unless one is running; a failed one is retried at the next heartbeat,
   * one overtaken by another lost connection at once if both connections are back.
   */
  private startResync(): void {
    const losses = this.losses;
    this.resyncing ??= this.resync()
      .catch(() => {})
      .then(() => {
        this.resyncing = undefined;
        // Lost and back again while it ran (the 'ready' found it running): run it again.
        const again = this.resyncPending && this.losses !== losses;
        if (again && !this.closed && this.outageSince === undefined) this.startResync();
      });
  }

  private receive(payload: Buffer): void {
    const event = parseEvent(payload);
    // Anything else published on the channel (another program, a typo'd prefix) is ignored.
    if (!event) return;
    const catchUp = this.behind.get(event.channel);
    if (catchUp) {
      catchUp.held.push(event);
    } else if (this.resyncPending && !this.behindListed && this.waiting.has(event.channel)) {
      // Waited on after the loss: the catch-up will list it.
      this.behind.set(event.channel, { after: undefined, held: [event] });
    } else {
      this.announce(event);
    }
  }

  private announce(event: StoreEvent): void {
    if (event.type === 'message') {
      const id = event.message.id;
      this.newestSecond = Math.max(this.newestSecond, id.time);
      let view = this.views.get(event.channel);
      if (!view && this.waiting.has(event.channel) && (!this.resyncPending || this.behindListed))
        view = this.viewOf(event.channel);
      if (view) {
        // Catch-up and the live subscription can both carry a message: announce it once.
        if (view.heard && compareIds(id, view.heard) <= 0) return;
        view.heard = id;
        if (view.newest === undefined || compareIds(id, view.newest) > 0) view.newest = id;
      }
    } else {
      this.views.delete(event.channel);
    }
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.log(`pushserver: a store listener threw: ${reasonOf(error)}`);
      }
    }
  }
}

const NOTHING_NEWER: NextResult = Object.freeze({ message: undefined, exists: true });

/** The XRANGE start for "strictly after the cursor", with Nchan's reading of odd cursors. */
function rangeStart(cursor: MessageId | null): string {
  if (cursor === null || !Number.isSafeInteger(cursor.time) || cursor.time < 0) return '-';
  // Nchan: If-None-Match -1 means "from tag 0 of that second"; a tag beyond any
  // counter means "from the next second".
  if (cursor.tag < 0) return `${cursor.time}-0`;
  if (!Number.isSafeInteger(cursor.tag)) return `${cursor.time + 1}-0`;
  return `(${cursor.time}-${cursor.tag}`;
}

/**
 * Load every script, so EVALSHA finds them. A script missing at first use would be
 * sent again with EVAL, after commands sent later (even by other daemons) ran.
 */
async function loadScripts(client: RedisClient): Promise<void> {
  const pipeline = client.pipeline();
  for (const script of ALL_SCRIPTS) pipeline.script('LOAD', script.lua);
  const results = (await pipeline.exec()) ?? [];
  for (const [error] of results) if (error) throw error;
}

async function checkVersion(client: RedisClient, where: string): Promise<void> {
  const text = await client.info('server');
  const version = /redis_version:(\d+)\.(\d+)/.exec(text);
  if (!version) return;
  const [major, minor] = [Number(version[1]), Number(version[2])];
  const [needMajor, needMinor] = MIN_REDIS_VERSION as [number, number];
  if (major < needMajor || (major === needMajor && minor < needMinor)) {
    throw new RedisUnavailableError(
      `${where} runs Redis ${major}.${minor}; the Redis store needs ${needMajor}.${needMinor} or later`,
    );
  }
}

/** Errors Redis itself answered (a bug or misuse), as opposed to connection trouble. */
function isServerError(error: unknown): boolean {
  if ((error as Error)?.name !== 'ReplyError') return false;
  // These mean the server is not serving right now: treat them as an outage.
  return !/^(LOADING|BUSY|MASTERDOWN|READONLY|MISCONF|TRYAGAIN|CLUSTERDOWN)/.test(
    (error as Error).message,
  );
}

function reasonOf(error: unknown): string {
  const cause = error as { code?: string; message?: string; errors?: unknown[] };
  if (cause?.errors?.length) return reasonOf(cause.errors[0]);
  return cause?.message || cause?.code || String(error);
}

/** The URL without its password, for messages and logs. */
function redactUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/[^:@/]*:)[^@/]*@/, '$1***@');
}

function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

async function quit(client: RedisClient | undefined): Promise<void> {
  if (!client) return;
  if (client.status === 'ready') {
    await client.quit().catch(() => client.disconnect());
  } else {
    client.disconnect();
  }
}

const importIoredis = () => import('ioredis');

/**
 * ioredis, an optional peer dependency, loaded when a Redis store opens.
 *
 * @param load how to import it (a test passes one that fails)
 * @throws Error saying how to install it when it is missing
 */
export async function loadIoredis(load = importIoredis): ReturnType<typeof importIoredis> {
  try {
    return await load();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw error;
    throw new Error(
      'the Redis store needs the ioredis package, which is not installed: npm install ioredis',
    );
  }
}
