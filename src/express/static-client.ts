import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NextFunction, Request, Response } from 'express';

/**
 * The package's `static/pushserver/` folder, found from this module's own location so it
 * is right from `dist/express/` and from `src/express/` alike.
 */
export const CLIENT_DIRECTORY = fileURLToPath(new URL('../../static/pushserver/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

// One plain file name: no slash, no percent-escape, no leading dot, a known extension.
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*(\.js|\.map)$/;

/** How {@link clientHandler} serves the browser client. */
export interface ClientServingOptions {
  /** URL path prefix, with leading and trailing slash. */
  prefix: string;
  /** Folder the files come from. */
  directory: string;
  /** `Cache-Control: public, max-age=<seconds>`. */
  maxAge: number;
}

interface CachedFile {
  mtimeMs: number;
  size: number;
  body: Buffer;
  etag: string;
}

/**
 * Middleware serving the files of `directory` under `prefix` with a JavaScript content
 * type, a strong ETag, Last-Modified and Cache-Control, answering 304 to a fresh
 * conditional GET, 405 to other methods and 404 to any other path under the prefix.
 * Only a plain file name (no slash, no percent-escape, no dot segment) reaches the file
 * system, so there is no path to traverse.
 *
 * @param options prefix, directory and max age
 * @returns an Express middleware; paths outside the prefix go to `next()`
 * @example app.use(clientHandler({ prefix: '/static/pushserver/', directory: CLIENT_DIRECTORY, maxAge: 0 }))
 */
export function clientHandler(options: ClientServingOptions) {
  const cache = new Map<string, CachedFile>();
  return async function servePushserverClient(req: Request, res: Response, next: NextFunction) {
    if (!req.path.startsWith(options.prefix)) return next();
    const name = FILE_NAME.exec(req.path.slice(options.prefix.length));
    const file = name
      ? await loadFile(options.directory, name[0], cache).catch(() => undefined)
      : undefined;
    if (!name || !file) return answer(res, 404, 'Not Found');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return answer(res, 405, 'Method Not Allowed');
    }
    res.statusCode = 200;
    res.setHeader('Content-Type', CONTENT_TYPES[name[1]]);
    res.setHeader('Content-Length', file.body.length);
    res.setHeader('ETag', file.etag);
    res.setHeader('Last-Modified', new Date(file.mtimeMs).toUTCString());
    res.setHeader('Cache-Control', `public, max-age=${options.maxAge}`);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    if (req.fresh) {
      res.statusCode = 304;
      res.removeHeader('Content-Length');
      res.removeHeader('Content-Type');
      return res.end();
    }
    res.end(req.method === 'HEAD' ? undefined : file.body);
  };
}

/** Read a file once per change (size and mtime), with its ETag. */
async function loadFile(directory: string, name: string, cache: Map<string, CachedFile>) {
  const path = join(directory, name);
  const info = await stat(path);
  if (!info.isFile()) return undefined;
  const cached = cache.get(name);
  if (cached && cached.mtimeMs === info.mtimeMs && cached.size === info.size) return cached;
  const body = await readFile(path);
  const hash = createHash('sha1').update(body).digest('base64url').slice(0, 27);
  const file = {
    mtimeMs: info.mtimeMs,
    size: body.length,
    body,
    etag: `"${body.length.toString(16)}-${hash}"`,
  };
  cache.set(name, file);
  return file;
}

function answer(res: ServerResponse<IncomingMessage>, status: number, text: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.end(`${text}\n`);
}
