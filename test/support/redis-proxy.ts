/**
 * A TCP proxy in front of a Redis server that can hold the replies of command
 * connections while pub/sub connections go through unhindered, and cut every
 * connection as an outage would. The Redis store opens two connections (commands,
 * and a duplicate that subscribes to the store's events): with the proxy a test makes
 * an announcement overtake a reply, deterministically.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';

/** A proxy started by a test; close it in `after`. */
export interface RedisProxy {
  port: number;
  /** `redis://127.0.0.1:<port>` */
  url: string;
  /**
   * Once a command connection sends a command containing `marker`, hold everything the
   * server sends back on that connection (that command's reply and later ones) until
   * {@link release}. Pub/sub connections are held only with `pubsub: true` (then any
   * connection that sends the marker is held, `SUBSCRIBE` included).
   *
   * @returns resolves when the marker went through and replies are held; rejects after `timeoutMs`
   */
  holdRepliesAfter(
    marker: string,
    options?: { timeoutMs?: number; pubsub?: boolean },
  ): Promise<void>;
  /** Send the held replies on, in order, and stop holding. */
  release(): void;
  /**
   * Resolves once the server sent `text` to a pub/sub connection and the proxy passed it
   * on. Call it before what makes the server send it.
   *
   * @returns rejects after `timeoutMs`
   */
  forwarded(text: string, timeoutMs?: number): Promise<void>;
  /** Cut every connection and refuse new ones (they are closed at once) until {@link up}. */
  down(): void;
  /** Accept connections again. */
  up(): void;
  /** Connections open now, by kind. */
  connections(): { commands: number; pubsub: number };
  /** Cut everything and stop listening. */
  close(): Promise<void>;
}

/** What the client sends when it starts subscribing (ioredis writes command names in lower case). */
const SUBSCRIBE = /\r\nsubscribe\r\n/i;
/** Characters kept from the end of each direction's data, so a marker split over two reads is found. */
const TAIL = 512;

/** Whether `text` has `marker` ending at or after `from` (in data not searched before). */
function includesNew(text: string, from: number, marker: string): boolean {
  return text.includes(marker, Math.max(0, from - marker.length + 1));
}

interface Pair {
  client: Socket;
  server: Socket;
  /** The client subscribed: a pub/sub connection. */
  pubsub: boolean;
  holding: boolean;
  held: Buffer[];
  sentTail: string;
  receivedTail: string;
}

interface Watch {
  text: string;
  /** Holding: pub/sub connections too. */
  pubsub?: boolean;
  resolve: () => void;
}

/**
 * Start a proxy on a free port of 127.0.0.1 in front of `127.0.0.1:<redisPort>`.
 *
 * @param redisPort the port Redis listens on
 * @returns the running proxy
 * @example
 * const proxy = await startRedisProxy(redis.port);
 * const store = createRedisStore(resolveSettings({ store: { type: 'redis', url: proxy.url } }).stores.default!);
 */
export async function startRedisProxy(redisPort: number): Promise<RedisProxy> {
  const pairs = new Set<Pair>();
  let refusing = false;
  let armed: Watch | undefined;
  const watches = new Set<Watch>();

  const cut = (pair: Pair) => {
    pairs.delete(pair);
    pair.client.destroy();
    pair.server.destroy();
  };

  const server: Server = createServer((client) => {
    if (refusing) {
      client.on('error', () => {});
      client.destroy();
      return;
    }
    const upstream = netConnect(redisPort, '127.0.0.1');
    const pair: Pair = {
      client,
      server: upstream,
      pubsub: false,
      holding: false,
      held: [],
      sentTail: '',
      receivedTail: '',
    };
    pairs.add(pair);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    for (const socket of [client, upstream]) {
      socket.on('error', () => cut(pair));
      socket.on('close', () => cut(pair));
    }
    client.on('data', (chunk: Buffer) => {
      const from = pair.sentTail.length;
      const text = pair.sentTail + chunk.toString('latin1');
      pair.sentTail = text.slice(-TAIL);
      if (!pair.pubsub && SUBSCRIBE.test(text)) pair.pubsub = true;
      // Held before the command reaches Redis, so its reply cannot slip through.
      if (armed && (armed.pubsub || !pair.pubsub) && includesNew(text, from, armed.text)) {
        pair.holding = true;
        const watch = armed;
        armed = undefined;
        watch.resolve();
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (pair.holding) {
        pair.held.push(chunk);
        return;
      }
      client.write(chunk);
      if (pair.pubsub && watches.size > 0) {
        const from = pair.receivedTail.length;
        const text = pair.receivedTail + chunk.toString('latin1');
        pair.receivedTail = text.slice(-TAIL);
        for (const watch of watches) {
          if (includesNew(text, from, watch.text)) {
            watches.delete(watch);
            watch.resolve();
          }
        }
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };

  /** A promise for `watch`, rejected after `timeoutMs` with `what`. */
  const deadline = (
    what: string,
    timeoutMs: number,
    start: (watch: Watch) => void,
    stop: (watch: Watch) => void,
  ) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        stop(watch);
        reject(new Error(`redis proxy: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const watch: Watch = {
        text: '',
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      start(watch);
    });

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    holdRepliesAfter(marker, { timeoutMs = 5000, pubsub = false } = {}) {
      return deadline(
        `a command with ${JSON.stringify(marker)}`,
        timeoutMs,
        (watch) => {
          watch.text = marker;
          watch.pubsub = pubsub;
          armed = watch;
        },
        (watch) => {
          if (armed === watch) armed = undefined;
        },
      );
    },
    release() {
      armed = undefined;
      for (const pair of pairs) {
        pair.holding = false;
        for (const chunk of pair.held.splice(0)) pair.client.write(chunk);
      }
    },
    forwarded(text, timeoutMs = 5000) {
      return deadline(
        `${JSON.stringify(text)} on a pub/sub connection`,
        timeoutMs,
        (watch) => {
          watch.text = text;
          watches.add(watch);
        },
        (watch) => watches.delete(watch),
      );
    },
    down() {
      refusing = true;
      for (const pair of [...pairs]) cut(pair);
    },
    up() {
      refusing = false;
    },
    connections() {
      let pubsub = 0;
      for (const pair of pairs) if (pair.pubsub) pubsub++;
      return { commands: pairs.size - pubsub, pubsub };
    },
    close() {
      refusing = true;
      for (const pair of [...pairs]) cut(pair);
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
