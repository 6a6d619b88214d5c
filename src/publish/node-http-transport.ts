/**
 * The node:http(s) transport: https, and requests whose head the own client does not
 * write (a listener's own Host or URL, a header that is not plain ASCII), go through
 * Node's client and a keep-alive agent per publisher.
 *
 * @module
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { TimeoutError } from './connection-pool.js';
import type { Daemon } from './request.js';
import { type Answer, type Publish, settle } from './result.js';
import type { SendUpdateResult } from './types.js';

/** A publisher's node:http(s) agents, made on first use. */
export interface NodeAgents {
  http: http.Agent | undefined;
  https: https.Agent | undefined;
}

/**
 * Send one publish through node:http(s) and settle it.
 *
 * @param agents the publisher's agents; the one needed is made here
 * @returns the publish's result, as {@link settle} gives it
 * @example sendWithNodeHttp(call, daemon, agents, channel.url, headers, body);
 */
export function sendWithNodeHttp(
  call: Publish,
  daemon: Daemon,
  agents: NodeAgents,
  url: string,
  headers: Record<string, string>,
  body: string | Buffer,
): Promise<SendUpdateResult> {
  let agent: http.Agent;
  if (daemon.secure) {
    agents.https ??= new https.Agent({ keepAlive: true, maxSockets: 64 });
    agent = agents.https;
  } else {
    agents.http ??= new http.Agent({ keepAlive: true, maxSockets: 64 });
    agent = agents.http;
  }
  return new Promise((resolve, reject) => {
    post(url, headers, body, agent, call).then(
      (response) => settle(call, response, undefined, resolve, reject),
      (cause) => settle(call, undefined, cause, resolve, reject),
    );
  });
}

function post(
  url: string,
  headers: Record<string, string>,
  body: string | Buffer,
  agent: http.Agent,
  limits: { timeout: number; signal?: AbortSignal },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    if (limits.signal?.aborted) {
      reject(new Error('aborted before it was sent', { cause: limits.signal.reason }));
      return;
    }
    const transport = url.startsWith('https:') ? https : http;
    const req = transport.request(url, { method: 'POST', headers, agent });
    const timer = setTimeout(() => req.destroy(new TimeoutError(limits.timeout)), limits.timeout);
    const onAbort = () => req.destroy(new Error('aborted', { cause: limits.signal?.reason }));
    limits.signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      clearTimeout(timer);
      limits.signal?.removeEventListener('abort', onAbort);
    };
    req.on('error', (error) => {
      done();
      reject(error);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (error) => {
        done();
        reject(error);
      });
      res.on('end', () => {
        done();
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    req.end(body);
  });
}
