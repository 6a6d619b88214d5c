// A load-generator process: keep-alive long-poll and EventSource subscribers and
// publishers on raw `net` sockets, WebSocket subscribers through `ws`, driven over IPC
// by bench/run.ts. It runs apart from the server it measures and reports its own CPU
// so the runner can tell which side was the limit.
import http from 'node:http';
import type { Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import type {
  GeneratorCommand,
  GeneratorMessage,
  PublishStats,
  SubscriberStats,
  SubscriberTransport,
} from './generator-protocol.js';
import { messageBody, publishStats } from './generator-protocol.js';
import { Histogram } from './histogram.js';
import {
  headerValue,
  inBatches,
  monotonicMicros,
  openSocket,
  type RawResponse,
  ResponseReader,
} from './http-client.js';

const LAST_MODIFIED = /\r\nlast-modified:[ \t]*([^\r]*)/i;
const ETAG = /\r\netag:[ \t]*([^\r]*)/i;
const SUBSCRIBERS = /subscribers"?:[ \t]*(\d+)/;

const histogram = new Histogram();
const subscribers: Subscriber[] = [];
const roundCounts: number[] = [];
const faultExamples: string[] = [];
let closing = false;

function send(message: GeneratorMessage): void {
  process.send?.(message);
}

/**
 * What every subscriber counts, whatever its transport: messages received, lost,
 * duplicated and out of order, answers, reconnects.
 */
abstract class Subscriber {
  seen = new Uint8Array(64);
  highest = 0;
  received = 0;
  duplicated = 0;
  outOfOrder = 0;
  errors = 0;
  reconnects = 0;
  readonly statuses: Record<string, number> = {};

  constructor(
    readonly port: number,
    readonly path: string,
    readonly channel: number,
  ) {}

  /** Open the connection and start receiving. */
  abstract connect(): Promise<void>;

  /** Drop the connection (the run is over). */
  abstract close(): void;

  /** Where the subscriber stands, for a fault report. */
  protected abstract position(): string;

  /** Count one message body; a body that is not messageBody's is an error. */
  protected deliver(body: Buffer | string): void {
    const now = monotonicMicros();
    const message = parseMessage(body);
    if (!message) {
      this.errors++;
      return;
    }
    histogram.record(now - message.t);
    this.account(message.s);
  }

  protected count(status: string | number): void {
    this.statuses[status] = (this.statuses[status] ?? 0) + 1;
  }

  private account(seq: number): void {
    if (seq >= this.seen.length) {
      const grown = new Uint8Array(Math.max(seq + 1, this.seen.length * 2));
      grown.set(this.seen);
      this.seen = grown;
    }
    if (this.seen[seq]) {
      this.duplicated++;
      return;
    }
    this.seen[seq] = 1;
    this.received++;
    if (seq < this.highest) {
      this.outOfOrder++;
      if (faultExamples.length < 5)
        faultExamples.push(`${this.path}: got ${seq} after ${this.highest} (${this.position()})`);
    } else this.highest = seq;
    roundCounts[seq] = (roundCounts[seq] ?? 0) + 1;
    if (roundCounts[seq] === subscribers.length) send({ event: 'round', seq });
  }
}

/** One long-poll subscriber: one keep-alive connection, re-polls with the last message's id. */
class LongPollSubscriber extends Subscriber {
  socket: Socket | undefined;
  lastModified = '';
  etag = '';
  askedModified = '';
  askedEtag = '';
  private readonly reader = new ResponseReader((response) => this.onResponse(response));

  async connect(): Promise<void> {
    const socket = await openSocket(this.port);
    this.socket = socket;
    this.reader.reset();
    socket.on('data', (chunk: Buffer) => this.reader.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => this.onClose(socket));
    this.poll();
  }

  close(): void {
    this.socket?.destroy();
  }

  protected position(): string {
    return `asked after Last-Modified ${this.askedModified || '-'}, Etag ${this.askedEtag || '-'}`;
  }

  poll(): void {
    const conditional = this.lastModified
      ? `If-Modified-Since: ${this.lastModified}\r\nIf-None-Match: ${this.etag}\r\n`
      : '';
    this.socket?.write(
      `GET ${this.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${conditional}\r\n`,
      'latin1',
    );
  }

  private onClose(socket: Socket): void {
    if (closing || socket !== this.socket) return;
    // The server closed a kept-alive connection (keep-alive limit or timeout): the
    // subscriber reconnects and asks again from its last message, as a browser would.
    this.reconnects++;
    this.socket = undefined;
    this.connect().catch(() => {
      this.errors++;
    });
  }

  private onResponse(response: RawResponse): void {
    this.count(response.status);
    this.askedModified = this.lastModified;
    this.askedEtag = this.etag;
    if (response.status === 200) {
      this.lastModified = headerValue(response.head, '\r\nLast-Modified: ', LAST_MODIFIED);
      this.etag = headerValue(response.head, '\r\nEtag: ', ETAG);
      this.deliver(response.body);
    } else if (response.status !== 408) {
      this.errors++;
    }
    if (response.close) return; // onClose reconnects and re-polls
    if (this.errors < 100) this.poll();
  }
}

/** The keep-alive agent every node:http long-poll of this generator goes through. */
let nodeHttpAgent: http.Agent | undefined;

/**
 * One long-poll subscriber through node:http's keep-alive agent, re-polling with the
 * last message's id: a stock client, as a Node app or a load generator written
 * without this project asks. It costs the generator about four times what a raw
 * socket does, so its re-polls reach the server one by one rather than in bursts, and
 * the server wakes for nearly every request, as it does for browsers spread over a
 * network; a raw-socket generator at full speed lets the server batch instead.
 */
class NodeHttpLongPollSubscriber extends Subscriber {
  private request: http.ClientRequest | undefined;
  private lastModified = '';
  private etag = '';

  connect(): Promise<void> {
    nodeHttpAgent ??= new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
    return new Promise((resolve) => {
      const request = this.poll();
      request.once('socket', (socket) => {
        if (socket.connecting) socket.once('connect', () => resolve());
        else resolve();
      });
      // A refused connection ends up in `errors`; subscribe() need not wait for it.
      request.once('error', () => resolve());
    });
  }

  close(): void {
    this.request?.destroy();
  }

  protected position(): string {
    return `last Etag ${this.etag || '-'}`;
  }

  private poll(): http.ClientRequest {
    const headers: Record<string, string> = this.lastModified
      ? { 'If-Modified-Since': this.lastModified, 'If-None-Match': this.etag }
      : {};
    const request = http.get(
      { host: '127.0.0.1', port: this.port, path: this.path, agent: nodeHttpAgent, headers },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => this.onResponse(response, Buffer.concat(chunks)));
      },
    );
    request.on('error', () => {
      if (closing || request !== this.request) return;
      // The server closed the kept-alive connection: ask again on another.
      this.reconnects++;
      if (this.errors < 100) this.poll();
    });
    this.request = request;
    return request;
  }

  private onResponse(response: http.IncomingMessage, body: Buffer): void {
    const status = response.statusCode ?? 0;
    this.count(status);
    if (status === 200) {
      this.lastModified = String(response.headers['last-modified'] ?? '');
      this.etag = String(response.headers.etag ?? '');
      this.deliver(body);
    } else if (status !== 408) {
      this.errors++;
    }
    if (!closing && this.errors < 100) this.poll();
  }
}

/**
 * One EventSource subscriber on a raw socket: `Accept: text/event-stream`, then
 * `id:` and `data:` lines read as they come (chunked or not); on a close by the
 * server it reconnects with `Last-Event-ID`, as a browser does.
 */
class EventSourceSubscriber extends Subscriber {
  socket: Socket | undefined;
  lastEventId = '';
  private head = '';
  private chunked = false;
  /** Bytes of the current chunk still to come; -1 while reading a chunk-size line. */
  private chunkLeft = -1;
  private raw = '';
  private events = '';

  async connect(): Promise<void> {
    const socket = await openSocket(this.port);
    this.socket = socket;
    this.head = '';
    this.raw = '';
    this.events = '';
    this.chunkLeft = -1;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {});
    socket.on('close', () => this.onClose(socket));
    const resume = this.lastEventId ? `Last-Event-ID: ${this.lastEventId}\r\n` : '';
    socket.write(
      `GET ${this.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n${resume}\r\n`,
      'latin1',
    );
  }

  close(): void {
    this.socket?.destroy();
  }

  protected position(): string {
    return `last event id ${this.lastEventId || '-'}`;
  }

  private onClose(socket: Socket): void {
    if (closing || socket !== this.socket) return;
    this.reconnects++;
    this.socket = undefined;
    this.connect().catch(() => {
      this.errors++;
    });
  }

  private onData(chunk: Buffer): void {
    // latin1 keeps one char per byte, so chunk sizes count in string length.
    this.raw += chunk.toString('latin1');
    if (!this.head) {
      const end = this.raw.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.head = this.raw.slice(0, end);
      this.raw = this.raw.slice(end + 4);
      const status = this.head.slice(9, 12);
      this.count(status);
      if (status !== '200') {
        this.errors++;
        return;
      }
      this.chunked = /\r\ntransfer-encoding:[ \t]*chunked/i.test(this.head);
    }
    if (this.chunked) this.unchunk();
    else {
      this.events += this.raw;
      this.raw = '';
    }
    this.readEvents();
  }

  private unchunk(): void {
    for (;;) {
      if (this.chunkLeft < 0) {
        const lineEnd = this.raw.indexOf('\r\n');
        if (lineEnd < 0) return;
        this.chunkLeft = Number.parseInt(this.raw.slice(0, lineEnd), 16);
        this.raw = this.raw.slice(lineEnd + 2);
      }
      if (this.raw.length < this.chunkLeft + 2) return;
      this.events += this.raw.slice(0, this.chunkLeft);
      this.raw = this.raw.slice(this.chunkLeft + 2);
      this.chunkLeft = -1;
    }
  }

  private readEvents(): void {
    let start = 0;
    for (;;) {
      const end = this.events.indexOf('\n\n', start);
      if (end < 0) break;
      // A message body is one line: at most one `data:` line per event.
      const event = this.events.slice(start, end);
      start = end + 2;
      const id = event.startsWith('id: ') ? 0 : event.indexOf('\nid: ');
      const data = event.startsWith('data: ') ? 0 : event.indexOf('\ndata: ');
      if (data < 0) continue; // a comment (`: hi`) or a ping
      if (id >= 0) {
        const from = id === 0 ? 4 : id + 5;
        const to = event.indexOf('\n', from);
        this.lastEventId = event.slice(from, to < 0 ? event.length : to);
      }
      this.deliver(event.slice(data === 0 ? 6 : data + 7));
    }
    this.events = this.events.slice(start);
  }
}

/**
 * One WebSocket subscriber through the `ws` client, plain (one frame per message
 * body); on a close by the server it reconnects with `?last_event_id=`.
 */
class WebSocketSubscriber extends Subscriber {
  socket: WebSocket | undefined;

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(`ws://127.0.0.1:${this.port}${this.path}`, {
        perMessageDeflate: false,
      });
      this.socket = socket;
      socket.on('message', (data: Buffer) => this.deliver(data));
      socket.on('error', reject);
      socket.once('upgrade', () => this.count(101));
      socket.once('open', () => {
        socket.removeListener('error', reject);
        socket.on('error', () => {});
        resolve();
      });
      socket.once('unexpected-response', (_request, response) => {
        this.count(response.statusCode ?? 0);
        this.errors++;
        reject(new Error(`${this.path}: ${response.statusCode}`));
      });
      socket.on('close', () => this.onClose(socket));
    });
  }

  close(): void {
    this.socket?.terminate();
  }

  protected position(): string {
    return `${this.reconnects} reconnects`;
  }

  private onClose(socket: WebSocket): void {
    if (closing || socket !== this.socket) return;
    this.reconnects++;
    this.socket = undefined;
    this.connect().catch(() => {
      this.errors++;
    });
  }
}

/** Read `{"s":<seq>,"t":<micros>,...}` (the body messageBody wrote) without JSON.parse. */
function parseMessage(body: Buffer | string): { s: number; t: number } | undefined {
  const text = typeof body === 'string' ? body.slice(0, 48) : body.toString('latin1', 0, 48);
  const comma = text.indexOf(',"t":');
  if (!text.startsWith('{"s":') || comma < 0) return undefined;
  const s = Number(text.slice(5, comma));
  const t = Number.parseFloat(text.slice(comma + 5));
  return Number.isFinite(s) && Number.isFinite(t) ? { s, t } : undefined;
}

async function subscribe(
  port: number,
  paths: string[],
  channels: number[],
  concurrency = 128,
  transport: SubscriberTransport = 'longpoll',
): Promise<{ connected: number }> {
  const Kind = {
    longpoll: LongPollSubscriber,
    'longpoll-node-http': NodeHttpLongPollSubscriber,
    eventsource: EventSourceSubscriber,
    websocket: WebSocketSubscriber,
  }[transport];
  const created = paths.map((path, i) => new Kind(port, path, channels[i]));
  subscribers.push(...created);
  await inBatches(created, concurrency, (subscriber) => subscriber.connect());
  return { connected: created.length };
}

function stats(expected: number[]): SubscriberStats {
  let lost = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  let received = 0;
  let faulty = 0;
  let errors = 0;
  let reconnects = 0;
  const statuses: Record<string, number> = {};
  for (const s of subscribers) {
    const missing = Math.max(0, (expected[s.channel] ?? 0) - s.received);
    lost += missing;
    duplicated += s.duplicated;
    outOfOrder += s.outOfOrder;
    received += s.received;
    errors += s.errors;
    reconnects += s.reconnects;
    if (missing + s.duplicated + s.outOfOrder > 0) faulty++;
    for (const [status, n] of Object.entries(s.statuses))
      statuses[status] = (statuses[status] ?? 0) + n;
  }
  return {
    subscribers: subscribers.length,
    histogram: histogram.toJSON(),
    received,
    lost,
    duplicated,
    outOfOrder,
    faulty,
    errors,
    reconnects,
    statuses,
    faultExamples,
  };
}

/** A keep-alive publishing connection with one request in flight at a time. */
class PublishConnection {
  private resolveResponse: ((response: RawResponse) => void) | undefined;
  private readonly reader = new ResponseReader((response) => {
    const resolve = this.resolveResponse;
    this.resolveResponse = undefined;
    if (response.close) this.socket = undefined;
    resolve?.(response);
  });
  private socket: Socket | undefined;

  constructor(
    private readonly port: number,
    private readonly accept: string,
    /** Ask the server to close after each answer, so every publish opens a connection. */
    private readonly fresh = false,
  ) {}

  async post(path: string, body: string): Promise<RawResponse> {
    if (!this.socket || this.socket.destroyed) {
      const socket = await openSocket(this.port);
      this.reader.reset();
      socket.on('data', (chunk: Buffer) => this.reader.push(chunk));
      socket.on('error', () => {});
      socket.on('close', () => {
        // A socket the server closed after its answer (Connection: close) is done with;
        // the pending request, if any, is on the next socket.
        if (this.socket !== socket) return;
        this.socket = undefined;
        const resolve = this.resolveResponse;
        this.resolveResponse = undefined;
        resolve?.({ status: 0, head: '', body: Buffer.alloc(0), close: true });
      });
      this.socket = socket;
    }
    const socket = this.socket;
    return new Promise((resolve) => {
      this.resolveResponse = resolve;
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nAccept: ${this.accept}\r\n${this.fresh ? 'Connection: close\r\n' : ''}\r\n${body}`,
        'latin1',
      );
    });
  }

  close(): void {
    this.socket?.destroy();
  }
}

function account(result: PublishStats, response: RawResponse, countSubscribers = false): void {
  result.count++;
  result.statuses[response.status] = (result.statuses[response.status] ?? 0) + 1;
  if (response.status !== 201 && response.status !== 202) result.errors++;
  if (countSubscribers)
    result.subscribers += Number(SUBSCRIBERS.exec(response.body.toString('latin1'))?.[1] ?? 0);
}

const roundConnections: PublishConnection[] = [];

/** Publish message `seq` once to every channel, 64 connections at most. */
async function publishRound(port: number, paths: string[], seq: number): Promise<PublishStats> {
  const result = publishStats(paths);
  while (roundConnections.length < Math.min(64, paths.length))
    roundConnections.push(new PublishConnection(port, 'text/plain'));
  let next = 0;
  const started = performance.now();
  await Promise.all(
    roundConnections.map(async (connection) => {
      while (next < paths.length) {
        const channel = next++;
        account(
          result,
          await connection.post(paths[channel], messageBody(seq, monotonicMicros())),
          true,
        );
        result.perChannel[channel]++;
      }
    }),
  );
  result.elapsedMs = performance.now() - started;
  return result;
}

/** As many publishes as `connections` keep-alive connections carry in `durationMs`. */
async function flood(
  port: number,
  paths: string[],
  connections: number,
  durationMs: number,
  accept: string,
  fresh = false,
): Promise<PublishStats> {
  const result = publishStats(paths);
  const pool = Array.from(
    { length: connections },
    () => new PublishConnection(port, accept, fresh),
  );
  const started = performance.now();
  const deadline = started + durationMs;
  const seqs = paths.map(() => 0);
  await Promise.all(
    pool.map(async (connection, i) => {
      let channel = i % paths.length;
      while (performance.now() < deadline) {
        const seq = ++seqs[channel];
        account(result, await connection.post(paths[channel], messageBody(seq, monotonicMicros())));
        result.perChannel[channel]++;
        channel = (channel + connections) % paths.length;
      }
    }),
  );
  result.elapsedMs = performance.now() - started;
  for (const connection of pool) connection.close();
  return result;
}

/**
 * Publish at a fixed rate, round-robin over the channels, for `durationMs`; sequence
 * numbers go on after `published` (what an earlier call sent to each path).
 */
async function atRate(
  port: number,
  paths: string[],
  rate: number,
  durationMs: number,
  connections: number,
  published: number[] | undefined,
): Promise<PublishStats> {
  const result = publishStats(paths);
  const idle = Array.from({ length: connections }, () => new PublishConnection(port, 'text/plain'));
  const backlog: number[] = [];
  const seqs = paths.map((_, i) => published?.[i] ?? 0);
  const busy = new Uint8Array(paths.length);
  let sent = 0;
  let inFlight = 0;
  let channel = 0;
  const started = performance.now();
  const total = Math.round((rate * durationMs) / 1000);
  await new Promise<void>((resolve) => {
    const dispatch = () => {
      // A channel's next message waits for the answer to its previous one: two
      // publishes in flight on different connections may be stored in either order,
      // and the order check counts against the order the server stored.
      for (let i = 0; i < backlog.length && idle.length > 0; ) {
        const target = backlog[i];
        if (busy[target]) {
          i++;
          continue;
        }
        backlog.splice(i, 1);
        const connection = idle.pop() as PublishConnection;
        const seq = ++seqs[target];
        busy[target] = 1;
        inFlight++;
        connection.post(paths[target], messageBody(seq, monotonicMicros())).then((response) => {
          inFlight--;
          busy[target] = 0;
          account(result, response);
          result.perChannel[target]++;
          idle.push(connection);
          dispatch();
        });
      }
      if (sent === total && backlog.length === 0 && inFlight === 0) resolve();
    };
    // Timers fire at best every ~1 ms; each tick sends what the schedule says is due.
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1000));
      while (sent < due) {
        backlog.push(channel);
        channel = (channel + 1) % paths.length;
        sent++;
      }
      if (backlog.length > result.maxBacklog) result.maxBacklog = backlog.length;
      if (sent === total) clearInterval(timer);
      dispatch();
    }, 1);
  });
  result.elapsedMs = performance.now() - started;
  for (const connection of idle) connection.close();
  return result;
}

/** `sendUpdate` through the library (defaults), `concurrency` calls in flight, for `durationMs`. */
async function library(
  port: number,
  publisherPrefix: string,
  ids: string[],
  concurrency: number,
  durationMs: number,
  module: string | undefined,
): Promise<PublishStats> {
  const result = publishStats(ids);
  // The built JavaScript users run when the runner has it; the TypeScript source otherwise.
  const { createPublisher } = (await import(
    module ? pathToFileURL(module).href : '../src/publish/index.js'
  )) as typeof import('../src/publish/index.js');
  const publisher = createPublisher({
    publisherHost: { location: `127.0.0.1:${port}` },
    // Only the publisher location matters here; settings insist on a subscriber one.
    locations: [
      { type: 'publisher', prefix: publisherPrefix },
      { type: 'subscriber', prefix: '/subscriber/' },
    ],
  });
  const seqs = ids.map(() => 0);
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, i) => {
      let channel = i % ids.length;
      while (performance.now() < deadline) {
        const seq = ++seqs[channel];
        const outcome = await publisher.sendUpdate(
          ids[channel],
          messageBody(seq, monotonicMicros()),
          {
            alreadySerialized: true,
            ignoreErrors: true,
          },
        );
        result.count++;
        const status = String(outcome.status ?? 0);
        result.statuses[status] = (result.statuses[status] ?? 0) + 1;
        if (!outcome.ok) result.errors++;
        result.perChannel[channel]++;
        channel = (channel + concurrency) % ids.length;
      }
    }),
  );
  result.elapsedMs = performance.now() - started;
  publisher.close();
  return result;
}

/**
 * The same publishes through a bare `node:http` keep-alive agent (what the library is
 * built on), to tell the library's own cost from node:http's.
 */
async function nodeHttp(
  port: number,
  paths: string[],
  concurrency: number,
  durationMs: number,
): Promise<PublishStats> {
  const result = publishStats(paths);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const post = (path: string, body: string) =>
    new Promise<number>((resolve) => {
      const request = http.request({
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: {
          'Content-Type': 'application/json; charset=utf-8',
          'Content-Length': String(Buffer.byteLength(body)),
          Accept: 'application/json',
        },
      });
      request.on('error', () => resolve(0));
      request.on('response', (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      });
      request.end(body);
    });
  const seqs = paths.map(() => 0);
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, i) => {
      let channel = i % paths.length;
      while (performance.now() < deadline) {
        const status = await post(paths[channel], messageBody(++seqs[channel], monotonicMicros()));
        result.count++;
        result.statuses[status] = (result.statuses[status] ?? 0) + 1;
        if (status !== 201 && status !== 202) result.errors++;
        channel = (channel + concurrency) % paths.length;
      }
    }),
  );
  result.elapsedMs = performance.now() - started;
  agent.destroy();
  return result;
}

function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

async function run(command: GeneratorCommand): Promise<unknown> {
  switch (command.op) {
    case 'subscribe':
      return subscribe(
        command.port,
        command.paths,
        command.channels,
        command.concurrency,
        command.transport,
      );
    case 'stats':
      return stats(command.expected);
    case 'resetLatency':
      histogram.clear();
      return null;
    case 'cpu':
      return cpuMicros();
    case 'publishRound':
      return publishRound(command.port, command.paths, command.seq);
    case 'flood':
      return flood(
        command.port,
        command.paths,
        command.connections,
        command.durationMs,
        command.accept,
        command.fresh,
      );
    case 'rate':
      return atRate(
        command.port,
        command.paths,
        command.rate,
        command.durationMs,
        command.connections,
        command.published,
      );
    case 'library':
      return library(
        command.port,
        command.publisherPrefix,
        command.channels,
        command.concurrency,
        command.durationMs,
        command.module,
      );
    case 'nodeHttp':
      return nodeHttp(command.port, command.paths, command.concurrency, command.durationMs);
    case 'close':
      closing = true;
      for (const s of subscribers) s.close();
      for (const c of roundConnections) c.close();
      nodeHttpAgent?.destroy();
      setImmediate(() => process.exit(0));
      return null;
  }
}

process.on('message', (raw) => {
  const { id, command } = raw as { id: number; command: GeneratorCommand };
  run(command).then(
    (result) => send({ id, result }),
    (error: Error) => send({ id, error: error.stack ?? String(error) }),
  );
});
// The runner going away (crash, Ctrl-C) must not leave generators behind.
process.on('disconnect', () => process.exit(0));
send({ event: 'ready' });
