/**
 * The own keep-alive client as a publish's transport: a publish is one
 * {@link PublishCall}, sent on the daemon's {@link ConnectionPool} with a prebuilt head.
 *
 * @module
 */
import { ConnectionPool, WireCall } from './connection-pool.js';
import type { Daemon } from './request.js';
import type { PublishAnswer } from './response-reader.js';
import { type Publish, settle } from './result.js';
import type { PreSendUpdateEvent, SendUpdateResult } from './types.js';

/**
 * One publish: what it is about (for its result and signals) and, on the own client,
 * its wire request, bookkeeping and promise, all in one object.
 */
export class PublishCall extends WireCall implements Publish {
  event: PreSendUpdateEvent | undefined = undefined;
  resolve: (result: SendUpdateResult) => void = noop;
  reject: (error: unknown) => void = noop;

  constructor(
    readonly channelId: string,
    readonly data: unknown,
    readonly alreadySerialized: boolean,
    readonly url: string,
    readonly ignoreErrors: boolean,
    timeout: number,
    signal: AbortSignal | undefined,
  ) {
    super();
    this.timeout = timeout;
    this.signal = signal;
  }

  answered(error: Error | undefined, answer: PublishAnswer | undefined): void {
    settle(
      this,
      answer && { status: answer.status, head: answer.head, body: answer.body.toString('utf8') },
      error,
      this.resolve,
      this.reject,
    );
  }
}

function noop(): void {}

/**
 * The pool of `daemon` among a publisher's `pools`, made on first use.
 *
 * @param pools a publisher's pools, by `host:port`
 * @example poolFor(connections.pools, daemonFor(settings)).send(call);
 */
export function poolFor(pools: Map<string, ConnectionPool>, daemon: Daemon): ConnectionPool {
  let pool = pools.get(daemon.key);
  if (!pool) {
    pool = new ConnectionPool(daemon.host, daemon.port);
    pools.set(daemon.key, pool);
  }
  return pool;
}

/**
 * Send `call` through the own keep-alive client.
 *
 * @param head the whole request head, ending with the blank line
 * @param encoding `latin1` when a string body is plain ASCII (the same bytes, cheaper)
 * @returns the publish's result, as {@link settle} gives it
 * @example sendWithPool(call, pool, `${channel.jsonHead}${length}\r\n\r\n`, body, 'latin1');
 */
export function sendWithPool(
  call: PublishCall,
  pool: ConnectionPool,
  head: string,
  body: string | Buffer,
  encoding: 'utf8' | 'latin1',
): Promise<SendUpdateResult> {
  call.head = head;
  call.body = body;
  call.encoding = encoding;
  return new Promise((resolve, reject) => {
    call.resolve = resolve;
    call.reject = reject;
    pool.send(call);
  });
}
