// The node-floor reference server of `npm run bench -- --servers node-floor,nchan`: the
// least a Node server on public APIs does for the bench's long-poll exchange, to tell
// what Node itself costs from what the daemon adds. Not a push server: no routing, no
// settings, no checks, one `data` listener per socket, every answer prebuilt, each
// written with `socket.write`. It answers the bench's long-poll fan-out and publish
// scenarios only: `GET /subscriber/<id>` (with `If-None-Match: <seq>` from the second
// poll on) gets message seq + 1 or waits for it; `POST /publisher/<id>` stores the body
// and answers Nchan's text channel info. Started by bench/servers.ts; it sends its port
// over IPC.
import { createServer } from 'node:net';

/** @typedef {{ answers: Buffer[], waiting: import('node:net').Socket[] }} Channel */

/** @type {Map<string, Channel>} */
const channels = new Map();
let date = new Date().toUTCString();
setInterval(() => {
  date = new Date().toUTCString();
}, 1000).unref();

/** @param {string} id */
function channel(id) {
  let found = channels.get(id);
  if (found === undefined) {
    found = { answers: [], waiting: [] };
    channels.set(id, found);
  }
  return found;
}

/** A message's whole answer, built once for every subscriber. */
function messageAnswer(/** @type {number} */ seq, /** @type {Buffer} */ body) {
  const head = `HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: ${date}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nLast-Modified: ${new Date(seq * 1000).toUTCString()}\r\nEtag: ${seq}\r\nConnection: keep-alive\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

function publishAnswer(/** @type {number} */ stored, /** @type {number} */ subscribers) {
  const body = `queued messages: ${stored}\r\nlast requested: 0 sec. ago\r\nactive subscribers: ${subscribers}\r\nlast message id: ${stored}:0\r\n`;
  return `HTTP/1.1 201 Created\r\nServer: nginx\r\nDate: ${date}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n${body}`;
}

const IF_NONE_MATCH = /\r\nif-none-match: *(\d+)/i;
const CONTENT_LENGTH = /\r\ncontent-length: *(\d+)/i;

/**
 * Serve the whole requests at the start of `data`.
 *
 * @returns the bytes of an incomplete request, if any
 */
function serve(/** @type {import('node:net').Socket} */ socket, /** @type {Buffer} */ data) {
  let start = 0;
  for (;;) {
    const end = data.indexOf('\r\n\r\n', start, 'latin1');
    if (end < 0) break;
    const head = data.toString('latin1', start, end);
    const post = head.startsWith('POST ');
    const target = head.slice(post ? 5 : 4, head.indexOf(' ', post ? 5 : 4));
    const found = channel(target.slice(target.indexOf('/', 1) + 1));
    if (post) {
      const length = Number(CONTENT_LENGTH.exec(head)?.[1] ?? 0);
      if (end + 4 + length > data.length) break;
      const body = Buffer.from(data.subarray(end + 4, end + 4 + length));
      const answer = messageAnswer(found.answers.length + 1, body);
      found.answers.push(answer);
      const waiting = found.waiting;
      found.waiting = [];
      for (const subscriber of waiting) if (!subscriber.destroyed) subscriber.write(answer);
      socket.write(publishAnswer(found.answers.length, waiting.length), 'latin1');
      start = end + 4 + length;
    } else {
      const asked = Number(IF_NONE_MATCH.exec(head)?.[1] ?? 0);
      if (asked < found.answers.length) socket.write(found.answers[asked]);
      else found.waiting.push(socket);
      start = end + 4;
    }
  }
  return start < data.length ? Buffer.from(data.subarray(start)) : undefined;
}

const server = createServer({ noDelay: true }, (socket) => {
  /** @type {Buffer | undefined} */
  let pending;
  socket.on('error', () => {});
  socket.on('data', (chunk) => {
    pending = serve(socket, pending === undefined ? chunk : Buffer.concat([pending, chunk]));
  });
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
});
process.on('disconnect', () => process.exit(0));
