import { connect, type Socket } from 'node:net';

/**
 * A raw HTTP/1.1 GET that stays open: the conformance suite's EventSource reader. It
 * keeps every byte after the head as latin1 text, so the suite compares exactly what
 * the server wrote (no EventSource parser in between).
 */
export interface RawStream {
  status: number;
  /** Lower-cased names; repeated headers joined with ', '. */
  headers: Record<string, string>;
  /** Header names in the order they came. */
  names: string[];
  /** The body so far (latin1). */
  body(): string;
  /** Resolves with the body once `done(body)` holds; rejects after `timeoutMs`. */
  until(done: (body: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves with the body when the server closes the connection (rejects after `timeoutMs`). */
  closed(timeoutMs?: number): Promise<string>;
  close(): void;
}

/**
 * Open `path` on `origin` and wait for the response head.
 *
 * @param headers request headers (Host is added)
 * @param timeoutMs deadline for the head
 */
export function openStream(
  origin: string,
  path: string,
  headers: Record<string, string> = {},
  timeoutMs = 5000,
): Promise<RawStream> {
  const url = new URL(origin);
  const socket: Socket = connect(Number(url.port), url.hostname);
  let raw = '';
  let headEnd = -1;
  let ended = false;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const waiter of [...waiters]) waiter();
  };
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    raw += chunk;
    wake();
  });
  socket.on('close', () => {
    ended = true;
    wake();
  });
  socket.on('error', () => {});
  const lines = [`GET ${path} HTTP/1.1`, `Host: ${url.host}`];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);

  const wait = (done: () => boolean, ms: number, what: string) =>
    new Promise<void>((resolve, reject) => {
      if (done()) return resolve();
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(
            `${path}: timed out after ${ms} ms waiting for ${what}; got ${JSON.stringify(raw)}`,
          ),
        );
      }, ms);
      const check = () => {
        if (!done()) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
    });

  const headArrived = () => {
    headEnd = raw.indexOf('\r\n\r\n');
    return headEnd >= 0 || ended;
  };
  return wait(headArrived, timeoutMs, 'the response head').then(() => {
    if (headEnd < 0) throw new Error(`${path}: closed without a head: ${JSON.stringify(raw)}`);
    const [statusLine, ...headerLines] = raw.slice(0, headEnd).split('\r\n');
    const result: Record<string, string> = {};
    const names: string[] = [];
    for (const line of headerLines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1).trim();
      names.push(name);
      const lower = name.toLowerCase();
      result[lower] = lower in result ? `${result[lower]}, ${value}` : value;
    }
    const body = () => raw.slice(headEnd + 4);
    return {
      status: Number(statusLine.split(' ')[1]),
      headers: result,
      names,
      body,
      async until(done, ms = 5000) {
        await wait(() => done(body()), ms, 'the expected body');
        return body();
      },
      async closed(ms = 5000) {
        await wait(() => ended, ms, 'the server to close');
        return body();
      },
      close() {
        socket.destroy();
      },
    };
  });
}
