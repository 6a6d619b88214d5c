// The publisher's HTTP/1.1 response reader: what a daemon answers to a publish, read
// from a kept-alive connection. As strict as node:http about framing (no bare CR or LF,
// no obs-fold, one Content-Length, never both Content-Length and Transfer-Encoding),
// so a confused or hostile peer cannot make two answers out of one.

/** One complete answer of the daemon. */
export interface PublishAnswer {
  status: number;
  /** Status line and header lines, latin1, joined by CRLF, without the blank line. */
  head: string;
  body: Buffer;
  /** The connection may carry the next request. */
  keepAlive: boolean;
  /** What `Keep-Alive: timeout=N` announced, in ms; undefined when not announced. */
  keepAliveMs: number | undefined;
}

/** The daemon's answer cannot be read as HTTP/1.1; the connection is not reused. */
export class MalformedResponseError extends Error {
  constructor(reason: string) {
    super(`the daemon sent a malformed response (${reason})`);
    this.name = 'MalformedResponseError';
  }
}

/** Longest status line plus headers accepted (node:http allows 16 KB). */
const MAX_HEAD = 64 * 1024;
/** Longest chunk-size or trailer line accepted. */
const MAX_LINE = 4 * 1024;
const DIGITS = /^\d{1,15}$/;
/**
 * A chunk-size line: hex size, then extensions `;name` or `;name=value` (token or
 * quoted string) with no whitespace, as node:http's parser insists.
 */
const CHUNK_SIZE_LINE =
  /^([0-9a-fA-F]{1,12})(?:;[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:=(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"(?:[\t !#-[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"))?)*$/;
const CRLF_CRLF = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);

enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailer,
  UntilClose,
  Done,
}

/** What a head says about its body and connection; shared between equal heads, so never changed. */
interface Framing {
  readonly status: number;
  readonly keepAlive: boolean;
  readonly keepAliveMs: number | undefined;
  /** Body bytes by Content-Length; -1 chunked; -2 until the connection closes. */
  readonly length: number;
}

/**
 * Reads one response at a time from the bytes of one connection. Feed it what the
 * socket reads; it returns the answer once complete. Throws
 * {@link MalformedResponseError} on anything node:http would refuse.
 *
 * @example const reader = new ResponseReader(); const answer = reader.push(chunk);
 */
export class ResponseReader {
  private state = State.Head;
  /** Bytes of an unfinished line or head. */
  private pending: Buffer = EMPTY;
  private framing: Framing | undefined;
  private head = '';
  /** The body read so far: usually one piece, more only when it came in several reads. */
  private body: Buffer = EMPTY;
  private moreBody: Buffer[] | undefined = undefined;
  private remaining = 0;
  private trailerBytes = 0;
  /** Bytes read since {@link reset}. */
  received = 0;
  /**
   * Bytes came after the end of the answer. Nothing is pipelined, so they cannot be
   * ours; the answer stands and the connection is not reused. Nchan does this: it
   * answers 403 before reading a body, then answers the unread body with a 400.
   */
  extra = false;

  /** Get ready for the next answer on the same connection. */
  reset(): void {
    this.state = State.Head;
    this.pending = EMPTY;
    this.framing = undefined;
    this.head = '';
    this.body = EMPTY;
    this.moreBody = undefined;
    this.remaining = 0;
    this.trailerBytes = 0;
    this.received = 0;
    this.extra = false;
  }

  /**
   * Feed bytes read from the connection.
   *
   * @param chunk what the socket's `data` event gave
   * @returns the answer when these bytes completed it
   * @throws MalformedResponseError
   */
  push(chunk: Buffer): PublishAnswer | undefined {
    this.received += chunk.length;
    if (this.state === State.Done) {
      this.extra = true;
      return undefined;
    }
    // The usual case: a whole answer with Content-Length in one read, parsed in place.
    if (this.state === State.Head && this.pending.length === 0) {
      const end = chunk.indexOf(CRLF_CRLF);
      if (end >= 0 && end <= MAX_HEAD) {
        this.startBody(chunk.toString('latin1', 0, end));
        return this.consume(chunk, end + 4);
      }
    }
    return this.consume(chunk, 0);
  }

  /**
   * The connection ended (EOF). Completes an answer whose body runs until close.
   *
   * @returns the answer, or undefined when the connection ended before its end
   */
  end(): PublishAnswer | undefined {
    if (this.state !== State.UntilClose) return undefined;
    this.state = State.Done;
    return this.answer();
  }

  private consume(chunk: Buffer, offset: number): PublishAnswer | undefined {
    for (;;) {
      if (this.state === State.Done) {
        const answer = this.answer();
        // 1xx answers (100 Continue, 103 Early Hints) come before the real one.
        if (answer.status < 200) {
          this.state = State.Head;
          this.body = EMPTY;
          this.moreBody = undefined;
          continue;
        }
        if (offset < chunk.length) this.extra = true;
        return answer;
      }
      if (offset >= chunk.length) return undefined;
      switch (this.state) {
        case State.Head: {
          const line = this.takeUntil(chunk, offset, CRLF_CRLF, MAX_HEAD, 'head over 64 KB');
          if (line === undefined) return undefined;
          offset = line.next;
          this.startBody(line.text);
          break;
        }
        case State.Length:
          offset = this.takeCounted(chunk, offset, State.Done);
          break;
        case State.UntilClose:
          this.addBody(chunk.subarray(offset));
          offset = chunk.length;
          break;
        case State.ChunkSize: {
          const line = this.takeLine(chunk, offset);
          if (line === undefined) return undefined;
          offset = line.next;
          const size = CHUNK_SIZE_LINE.exec(line.text);
          if (!size) {
            throw new MalformedResponseError(
              `bad chunk size line ${JSON.stringify(line.text.slice(0, 80))}`,
            );
          }
          this.remaining = Number.parseInt(size[1], 16);
          this.state = this.remaining === 0 ? State.Trailer : State.ChunkData;
          break;
        }
        case State.ChunkData:
          offset = this.takeCounted(chunk, offset, State.ChunkDataEnd);
          break;
        case State.ChunkDataEnd: {
          const line = this.takeLine(chunk, offset);
          if (line === undefined) return undefined;
          offset = line.next;
          if (line.text !== '') throw new MalformedResponseError('chunk data longer than its size');
          this.state = State.ChunkSize;
          break;
        }
        case State.Trailer: {
          const line = this.takeLine(chunk, offset);
          if (line === undefined) return undefined;
          offset = line.next;
          this.trailerBytes += line.text.length + 2;
          if (this.trailerBytes > MAX_HEAD) throw new MalformedResponseError('trailers over 64 KB');
          if (line.text === '') this.state = State.Done;
          else if (!validHeaderLine(line.text)) {
            throw new MalformedResponseError(`bad trailer line ${JSON.stringify(line.text)}`);
          }
          break;
        }
      }
    }
  }

  /** Parse the head and set the state for its body. */
  private startBody(head: string): void {
    const framing = parseHead(head);
    this.head = head;
    this.framing = framing;
    if (framing.length === -1) this.state = State.ChunkSize;
    else if (framing.length === -2) this.state = State.UntilClose;
    else if (framing.length === 0) this.state = State.Done;
    else {
      this.state = State.Length;
      this.remaining = framing.length;
    }
  }

  /** Body bytes up to `remaining` (a length or a chunk's size), then `next`; returns the offset after them. */
  private takeCounted(chunk: Buffer, offset: number, next: State): number {
    const take = Math.min(this.remaining, chunk.length - offset);
    this.addBody(chunk.subarray(offset, offset + take));
    this.remaining -= take;
    if (this.remaining === 0) this.state = next;
    return offset + take;
  }

  private addBody(piece: Buffer): void {
    if (this.body.length === 0) this.body = piece;
    else if (this.moreBody) this.moreBody.push(piece);
    else this.moreBody = [piece];
  }

  private answer(): PublishAnswer {
    const framing = this.framing as Framing;
    return {
      status: framing.status,
      head: this.head,
      body: this.moreBody ? Buffer.concat([this.body, ...this.moreBody]) : this.body,
      keepAlive: framing.keepAlive,
      keepAliveMs: framing.keepAliveMs,
    };
  }

  /** A CRLF-terminated line (chunk size, trailer), joining reads. */
  private takeLine(chunk: Buffer, offset: number): { text: string; next: number } | undefined {
    return this.takeUntil(chunk, offset, CRLF, MAX_LINE, 'line over 4 KB');
  }

  private takeUntil(
    chunk: Buffer,
    offset: number,
    delimiter: Buffer,
    limit: number,
    tooLong: string,
  ): { text: string; next: number } | undefined {
    const joined = this.pending.length > 0;
    const buffer = joined ? Buffer.concat([this.pending, chunk.subarray(offset)]) : chunk;
    const start = joined ? 0 : offset;
    const end = buffer.indexOf(delimiter, start);
    if (end < 0) {
      if (buffer.length - start > limit + delimiter.length)
        throw new MalformedResponseError(tooLong);
      // Copy: the socket's chunk is not ours to hold.
      this.pending = Buffer.from(buffer.subarray(start));
      return undefined;
    }
    if (end - start > limit) throw new MalformedResponseError(tooLong);
    const text = buffer.toString('latin1', start, end);
    const next = end + delimiter.length;
    this.pending = EMPTY;
    // Offsets are in `chunk`; the pending bytes came before it.
    return {
      text,
      next: joined ? offset + next - (buffer.length - (chunk.length - offset)) : next,
    };
  }
}

const CRLF = Buffer.from('\r\n');

/**
 * A whole valid head in one expression (compiled to native code, one pass): status
 * line (any reason phrase without CR, LF or NUL: node:http takes them all), then header
 * lines of a token, a colon and a value free of control characters but HTAB. So no
 * bare CR or LF, no NUL, no obs-fold, no space before the colon.
 */
const VALID_HEAD =
  /^HTTP\/1\.[01] [1-9]\d\d(?: [^\0\r\n]*)?(?:\r\n[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\x00-\x08\x0a-\x1f\x7f]*)*$/;
const STATUS_LINE = /^HTTP\/1\.[01] [1-9]\d\d(?: [^\0\r\n]*)?$/;
const HEADER_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\x00-\x08\x0a-\x1f\x7f]*$/;
/** The headers that frame the body or decide about the connection: name, value. */
const FRAMING_HEADER =
  /\r\n(content-length|transfer-encoding|connection|keep-alive):[ \t]*([^\r]*)/gi;

function validHeaderLine(line: string): boolean {
  return HEADER_LINE.test(line);
}

/**
 * The status and framing of a response head, refusing what node:http refuses.
 *
 * @param head status line and headers, without the final blank line
 * @throws MalformedResponseError
 */
function parseHead(head: string): Framing {
  // A daemon answers publish after publish with the same head (the Date changes once a
  // second, the length now and then): the same text frames the same way.
  if (head === lastHead) return lastFraming as Framing;
  const framing = parseNewHead(head);
  lastHead = head;
  lastFraming = framing;
  return framing;
}

let lastHead = '';
let lastFraming: Framing | undefined;

function parseNewHead(head: string): Framing {
  if (!VALID_HEAD.test(head)) throw whyInvalid(head);
  const minor = head.charCodeAt(7) - 48;
  const status =
    (head.charCodeAt(9) - 48) * 100 + (head.charCodeAt(10) - 48) * 10 + head.charCodeAt(11) - 48;
  if (status === 101) throw new MalformedResponseError('101 Switching Protocols to a publish');
  let length = -2;
  let chunked = false;
  let transferEncoding = false;
  let close = minor === 0;
  let keepAliveMs: number | undefined;
  FRAMING_HEADER.lastIndex = 0;
  for (let header = FRAMING_HEADER.exec(head); header; header = FRAMING_HEADER.exec(head)) {
    const value = trimOws(header[2]);
    switch (header[1].length) {
      case 14: {
        if (!DIGITS.test(value)) throw new MalformedResponseError(`bad Content-Length "${value}"`);
        const n = Number(value);
        if (length >= 0 && length !== n) {
          throw new MalformedResponseError('two different Content-Length headers');
        }
        length = n;
        break;
      }
      case 17:
        transferEncoding = true;
        // The last coding decides: chunked, or else the body runs until the connection
        // closes (RFC 9112 6.3, as node:http reads it).
        chunked = /(?:^|,)[ \t]*chunked$/i.test(value);
        break;
      default:
        if (header[1].charCodeAt(0) === 107 || header[1].charCodeAt(0) === 75) {
          const timeout = /(?:^|[,\s])timeout=(\d{1,9})/i.exec(value);
          if (timeout) keepAliveMs = Number(timeout[1]) * 1000;
        } else if (value === 'keep-alive') {
          if (minor === 0) close = false;
        } else if (/(?:^|,)\s*close\s*(?:,|$)/i.test(value)) {
          close = true;
        } else if (minor === 0 && /(?:^|,)\s*keep-alive\s*(?:,|$)/i.test(value)) {
          close = false;
        }
    }
  }
  if (transferEncoding && length >= 0) {
    throw new MalformedResponseError('both Content-Length and Transfer-Encoding');
  }
  // No body for 1xx, 204 and 304, whatever the headers say.
  if (status < 200 || status === 204 || status === 304) length = 0;
  else if (chunked) length = -1;
  else if (length === -2) close = true;
  return { status, keepAlive: !close, keepAliveMs, length };
}

/** What exactly is wrong with a head {@link VALID_HEAD} refused. */
function whyInvalid(head: string): MalformedResponseError {
  if (head.includes('\0')) return new MalformedResponseError('NUL in the head');
  const lines = head.split('\r\n');
  if (lines.some((line) => /[\r\n]/.test(line))) {
    return new MalformedResponseError('bare CR or LF in the head');
  }
  if (!STATUS_LINE.test(lines[0])) {
    return new MalformedResponseError(`bad status line ${JSON.stringify(lines[0].slice(0, 80))}`);
  }
  const line = lines.find((candidate, i) => i > 0 && !HEADER_LINE.test(candidate)) ?? '';
  if (line.startsWith(' ') || line.startsWith('\t')) {
    return new MalformedResponseError('obsolete line folding');
  }
  return new MalformedResponseError(`bad header line ${JSON.stringify(line.slice(0, 80))}`);
}

/** Without trailing spaces and tabs (the only whitespace HTTP allows around a value). */
function trimOws(value: string): string {
  let end = value.length;
  while (end > 0 && (value.charCodeAt(end - 1) === 32 || value.charCodeAt(end - 1) === 9)) end--;
  return end === value.length ? value : value.slice(0, end);
}
