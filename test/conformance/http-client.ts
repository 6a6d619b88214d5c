import http from 'node:http';

/** An HTTP answer as the tests look at it. */
export interface Answer {
  status: number;
  /** Lower-cased names; repeated headers joined with ', '. */
  headers: Record<string, string>;
  /** Header names in the order they came. */
  names: string[];
  body: Buffer;
  text: string;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Give up after this many ms and resolve `undefined` (for "no answer" cases). */
  timeout?: number;
  /** Abort the request (resolves `undefined`). */
  signal?: AbortSignal;
}

/**
 * One request on a fresh connection. Write errors after an early answer (413) are
 * ignored: the answer is what counts.
 */
export function request(
  origin: string,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<Answer | undefined> {
  return new Promise((resolve, reject) => {
    const url = new URL(origin);
    const req = http.request({
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port,
      method,
      path,
      headers: options.headers,
      agent: false,
      signal: options.signal,
    });
    let timer: NodeJS.Timeout | undefined;
    if (options.timeout !== undefined) {
      timer = setTimeout(() => {
        req.destroy();
        resolve(undefined);
      }, options.timeout);
    }
    let answered = false;
    req.on('close', () => {
      if (!answered)
        setImmediate(() =>
          reject(new Error(`${method} ${path}: connection closed without an answer`)),
        );
    });
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        clearTimeout(timer);
        const headers: Record<string, string> = {};
        const names: string[] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          const name = res.rawHeaders[i].toLowerCase();
          names.push(res.rawHeaders[i]);
          headers[name] =
            name in headers ? `${headers[name]}, ${res.rawHeaders[i + 1]}` : res.rawHeaders[i + 1];
        }
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers, names, body, text: body.toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (options.signal?.aborted) return resolve(undefined);
      // The server answered before reading the whole body and closed: wait for the answer.
      if (error.code === 'EPIPE' || error.code === 'ECONNRESET') return;
      clearTimeout(timer);
      reject(error);
    });
    if (options.body !== undefined) req.end(options.body);
    else req.end();
  });
}

/**
 * One request that must be answered within 10 s (an assertion otherwise).
 *
 * @example const info = await answered(origin, 'GET', '/publisher/a', { Accept: 'application/json' });
 */
export async function answered(
  origin: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Answer> {
  const answer = await request(origin, method, path, { headers, body, timeout: 10_000 });
  if (!answer) throw new Error(`${method} ${path}: no answer within 10 s`);
  return answer;
}
