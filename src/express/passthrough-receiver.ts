/**
 * The app side of passthrough: the endpoint the push daemon (or Nchan, with the
 * project's nginx config) POSTs to when a browser starts or stops waiting on a
 * channel. It turns each notification into a `channelSubscribe` /
 * `channelUnsubscribe` signal carrying the request, whose headers are the
 * browser's own, so the app's session middleware has already found the user.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { addressMatcher, LOOPBACK_RANGES, PROXIED_FOR_HEADER } from '../ip.js';
import { type ChannelSignal, emitRobust } from '../signals.js';

/** Options of {@link passthrough}. */
export interface PassthroughOptions {
  /**
   * Addresses and CIDR ranges the notifications may come from (the daemon's or
   * nginx's address as the app sees it). IPv4-mapped IPv6 forms match their IPv4 form.
   * @default ['127.0.0.0/8', '::1']
   */
  internalIps?: readonly string[];
  /** Largest form body accepted, in bytes (413 above). @default 16384 */
  maxBodyBytes?: number;
}

/** What `channelSubscribe` / `channelUnsubscribe` listeners receive (declared with the signals). */
export type { ChannelSignal };

/** The request as the receiver reads it: a Node request, plus what Express adds when present. */
type PassthroughRequest = IncomingMessage & { ip?: string; body?: unknown };

/**
 * Express middleware (also a plain Node handler) receiving passthrough
 * notifications. Mount it after the app's session / auth middlewares:
 *
 * - only `POST` from an internal address is accepted, anything else gets 403 and
 *   no signal. The address is `req.ip`, which is the socket's address unless the
 *   app's `trust proxy` setting says to believe `X-Forwarded-For`. A request that
 *   `runpushserver --allrequests --upstream` proxied for an outside client (its
 *   `X-Pushserver-Proxied-For` is not internal) is refused too, though it comes from
 *   127.0.0.1;
 * - the `application/x-www-form-urlencoded` body is parsed here (no body parser
 *   needed; one that already ran is fine too);
 * - `channel_id=<id>&subscribe=1` emits `channelSubscribe`, `unsubscribe=1` emits
 *   `channelUnsubscribe`, with `{req, channelId}`; a listener that throws is
 *   reported on stderr and harms neither the others nor the answer;
 * - a `channel_id` with unencoded commas (`a,b`: Nchan's hooks for a multiplexed
 *   subscriber send the ids as typed in its URL) emits one signal per channel; a comma
 *   inside an id is encoded (`%2C`) and stays (not when a body parser that ran before
 *   decoded the form);
 * - answers 204; 400 when `channel_id` or the action is missing.
 *
 * @param options see {@link PassthroughOptions}
 * @returns a `(req, res)` handler
 * @throws Error when an `internalIps` entry is not an address or a range
 * @example
 * app.use(session({ secret }));
 * app.use('/passthrough', passthrough());
 * signals.on('channelSubscribe', ({ req, channelId }) => console.log(req.session.user, channelId));
 */
export function passthrough(
  options: PassthroughOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const isInternal = addressMatcher(options.internalIps ?? LOOPBACK_RANGES);
  const maxBodyBytes = options.maxBodyBytes ?? 16_384;
  return (incoming, res) => {
    const req = incoming as PassthroughRequest;
    if (
      req.method !== 'POST' ||
      !isInternal(req.ip ?? req.socket.remoteAddress) ||
      !proxiedForInternal(req, isInternal)
    ) {
      return answer(res, 403, 'Forbidden: passthrough accepts POST from internal addresses only');
    }
    readForm(req, maxBodyBytes).then(
      (read) => {
        if (read === undefined) return answer(res, 413, 'Payload Too Large');
        const { form, raw } = read;
        const channelId = form.get('channel_id');
        if (!channelId) return answer(res, 400, 'Bad Request: channel_id is missing');
        // A channel id never holds NUL (the daemon refuses it); NUL here means a mangled body.
        if (channelId.includes('\0')) return answer(res, 400, 'Bad Request: NUL in channel_id');
        const event = form.get('subscribe')
          ? 'channelSubscribe'
          : form.get('unsubscribe')
            ? 'channelUnsubscribe'
            : undefined;
        if (!event) return answer(res, 400, 'Bad Request: neither subscribe nor unsubscribe');
        for (const id of raw === undefined ? [channelId] : channelIdsOf(raw, channelId)) {
          emitRobust(event, { req, channelId: id } satisfies ChannelSignal);
        }
        answer(res, 204);
      },
      () => answer(res, 400, 'Bad Request: the body could not be read as UTF-8 form data'),
    );
  };
}

/**
 * False when the `--allrequests` proxy forwarded the request for a client outside
 * `isInternal`; true when it did not proxy it. The header only narrows: it never makes
 * a request from outside internal.
 */
function proxiedForInternal(
  req: IncomingMessage,
  isInternal: (address: string | undefined) => boolean,
): boolean {
  const header = req.headers[PROXIED_FOR_HEADER];
  if (header === undefined) return true;
  // Repeated headers arrive joined by commas; every address named must be internal.
  const addresses = (Array.isArray(header) ? header.join(',') : header).split(',');
  return addresses.every((address) => isInternal(address.trim()));
}

/** The form in the body, or undefined when it is larger than `limit` bytes. */
async function readForm(
  req: PassthroughRequest,
  limit: number,
): Promise<{ form: URLSearchParams; raw?: string } | undefined> {
  // A body parser that ran before us consumed the stream and left the fields.
  if (req.readableEnded || isParsedBody(req.body)) {
    return { form: new URLSearchParams(isParsedBody(req.body) ? fieldsOf(req.body) : []) };
  }
  const body = await new Promise<Buffer | undefined>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve(size <= limit ? Buffer.concat(chunks) : undefined));
    req.on('error', reject);
  });
  if (body === undefined) return undefined;
  // URLSearchParams decodes `+` as a space and %XX as UTF-8, as every form parser does.
  // Strict UTF-8: a body with invalid bytes is refused rather than turned into another id.
  const raw = strictUtf8.decode(body);
  return { form: new URLSearchParams(raw), raw };
}

/**
 * The channels of a notification: its raw `channel_id` split at unencoded commas
 * (Nchan's multiplexed hooks), each decoded as a form value; `decoded` when there is
 * no comma to split at.
 *
 * @example channelIdsOf('channel_id=a,b%2Cc&subscribe=1', 'a,b,c') // ['a', 'b,c']
 */
function channelIdsOf(raw: string, decoded: string): string[] {
  const field = raw.split('&').find((pair) => pair.startsWith('channel_id='));
  const value = field?.slice('channel_id='.length) ?? '';
  if (!value.includes(',')) return [decoded];
  const ids = value
    .split(',')
    .filter((piece) => piece !== '')
    .map((piece) => new URLSearchParams(`x=${piece}`).get('x') as string);
  return [...new Set(ids)];
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function isParsedBody(body: unknown): body is Record<string, unknown> {
  return typeof body === 'object' && body !== null && Object.keys(body).length > 0;
}

function fieldsOf(body: Record<string, unknown>): Array<[string, string]> {
  return Object.entries(body)
    .filter(([, value]) => typeof value === 'string' || typeof value === 'number')
    .map(([key, value]) => [key, String(value)]);
}

function answer(res: ServerResponse, status: number, text?: string): void {
  if (res.headersSent) return;
  if (text === undefined) {
    res.writeHead(status).end();
    return;
  }
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text) + 1,
  });
  res.end(`${text}\n`);
}
