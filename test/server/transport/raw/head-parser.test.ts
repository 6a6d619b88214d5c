// The raw path's head reader: what it serves itself, and everything it leaves to
// node:http (undefined) because node:http refuses it or reads it by rules of its own.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  MAX_RAW_HEAD,
  MAX_RAW_HEADERS,
  parseHead,
} from '../../../../src/server/transport/raw/head-parser.js';

const head = (text: string) => parseHead(Buffer.from(text, 'latin1'), 0);
const GET = 'GET /subscriber/a?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n';

describe('raw head reader', () => {
  test('a plain poll: method, target, lower-case headers without spaces, keep-alive, end', () => {
    const text = `${GET}If-None-Match: \t"3" \r\nIf-Modified-Since: Sat, 28 Nov 2026 01:21:19 GMT\r\nX-Empty:\r\n\r\nNEXT`;
    const got = head(text);
    assert.ok(got);
    assert.equal(got.method, 'GET');
    assert.equal(got.url, '/subscriber/a?x=1');
    assert.deepEqual(got.headers, {
      host: '127.0.0.1',
      'if-none-match': '"3"',
      'if-modified-since': 'Sat, 28 Nov 2026 01:21:19 GMT',
      'x-empty': '',
    });
    assert.equal(got.keepAlive, true);
    assert.equal(got.contentLength, 0);
    assert.equal(text.slice(got.end), 'NEXT');
  });

  test('a publish with Content-Length; Connection: close', () => {
    const got = head(
      'POST /publisher/a HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\nConnection: Close\r\n\r\n',
    );
    assert.equal(got?.method, 'POST');
    assert.equal(got?.contentLength, 12);
    assert.equal(got?.keepAlive, false);
  });

  test('header names of any case are read lower-case, known ones and others alike', () => {
    const got = head(
      'POST /p HTTP/1.1\r\nHOST: x\r\ncontent-LENGTH: 0\r\nHosu: y\r\nX-Custom_Name~1: z\r\n\r\n',
    );
    assert.deepEqual(got?.headers, {
      host: 'x',
      'content-length': '0',
      hosu: 'y',
      'x-custom_name~1': 'z',
    });
  });

  test('starts at the given offset (the next request of a keep-alive connection)', () => {
    const bytes = Buffer.from(`xxxx${GET}\r\n`, 'latin1');
    assert.equal(parseHead(bytes, 4)?.end, bytes.length);
  });

  const leftToNode: Array<[string, string]> = [
    ['incomplete head', GET],
    ['incomplete line', 'GET /subscriber/a HTTP/1.1\r\nHo'],
    ['HTTP/1.0', 'GET /subscriber/a HTTP/1.0\r\nHost: x\r\n\r\n'],
    ['HTTP/2.0', 'GET /subscriber/a HTTP/2.0\r\nHost: x\r\n\r\n'],
    ['lower-case method', 'get /subscriber/a HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['other methods', 'OPTIONS /subscriber/a HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['absolute-form target', 'GET http://x/subscriber/a HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['two spaces', 'GET  /subscriber/a HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['control byte in target', 'GET /sub\x01 HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['high byte in target', 'GET /caf\xe9 HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['leading empty line', `\r\n${GET}\r\n`],
    ['no Host', 'GET /subscriber/a HTTP/1.1\r\n\r\n'],
    ['obs-fold', `${GET}X-A: a\r\n b\r\n\r\n`],
    ['obs-fold with tab', `${GET}X-A: a\r\n\tb\r\n\r\n`],
    ['bare CR in a value', `${GET}X-A: a\rb\r\n\r\n`],
    ['bare LF ending a line', `${GET}X-A: a\n\r\n`],
    ['bare LF ending the head', `${GET}\n`],
    ['CR without LF ending the head', `${GET}\rX`],
    ['space before the colon', `${GET}X-A : a\r\n\r\n`],
    ['no colon', `${GET}X-A a\r\n\r\n`],
    ['empty name', `${GET}: a\r\n\r\n`],
    ['invalid token char in a name', `${GET}X(A): a\r\n\r\n`],
    ['NUL in a value', `${GET}X-A: a\0b\r\n\r\n`],
    ['DEL in a value', `${GET}X-A: a\x7fb\r\n\r\n`],
    ['obs-text in a value', `${GET}X-A: caf\xe9\r\n\r\n`],
    ['a header twice', `${GET}X-A: 1\r\nx-a: 2\r\n\r\n`],
    ['Host twice', `${GET}Host: y\r\n\r\n`],
    ['a name of Object.prototype', `${GET}Constructor: a\r\n\r\n`],
    ['__proto__', `${GET}__proto__: a\r\n\r\n`],
    ['Transfer-Encoding', `${GET}Transfer-Encoding: chunked\r\n\r\n`],
    [
      'POST with Content-Length and Transfer-Encoding',
      'POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n',
    ],
    [
      'duplicate Content-Length',
      'POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n',
    ],
    ['POST without Content-Length', 'POST /p HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['signed Content-Length', 'POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\n'],
    ['Content-Length list', 'POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\n'],
    ['Content-Length in hex', 'POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\n'],
    [
      'huge Content-Length',
      `POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: ${'9'.repeat(16)}\r\n\r\n`,
    ],
    ['GET with a body', `${GET}Content-Length: 0\r\n\r\n`],
    ['Connection: upgrade', `${GET}Connection: upgrade\r\nUpgrade: websocket\r\n\r\n`],
    ['Upgrade', `${GET}Upgrade: h2c\r\n\r\n`],
    ['Connection with two tokens', `${GET}Connection: keep-alive, close\r\n\r\n`],
    ['Expect', `POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n`],
    ['a head over the limit', `${GET}X-A: ${'a'.repeat(MAX_RAW_HEAD)}\r\n\r\n`],
    [
      'too many headers',
      `${GET}${Array.from({ length: MAX_RAW_HEADERS }, (_, i) => `X-${i}: ${i}\r\n`).join('')}\r\n`,
    ],
  ];
  for (const [what, text] of leftToNode) {
    test(`left to node:http: ${what}`, () => assert.equal(head(text), undefined));
  }
});
