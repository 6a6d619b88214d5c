/**
 * Signed channel ids: the query a signed channel URL carries and its check. One rule
 * for everyone who reads it: `channelUrl` signs, the daemon's `signed: true` locations
 * and the Express `authorize` middleware (behind Nchan) verify.
 *
 * A signature is HMAC-SHA256 under the settings' first `secret` of the channel id and
 * the expiry, base64url: `?exp=<unix seconds>&sig=<signature>`. A multiplexed URL
 * carries the signatures of its channels as one comma-separated `sig` list under one
 * `exp`; every channel in the path needs its own signature in the list, whatever the
 * order, so a page's channels can share one connection and any subset of them too.
 *
 * @module
 */
import { createHmac, randomBytes } from 'node:crypto';

/** The query parameter holding the signature(s). */
export const SIGNATURE_PARAM = 'sig';
/** The query parameter holding the expiry, in Unix seconds. */
export const EXPIRY_PARAM = 'exp';

/** Bytes of one HMAC-SHA256 signature (43 characters in base64url). */
const SIGNATURE_BYTES = 32;
/** Most signatures one URL may carry: Nchan's 255 channels per request. */
const MAX_SIGNATURES = 255;
/**
 * Bound into every signature so that a secret shared with something else (a session
 * cookie's secret, say) never makes one of its signatures a valid channel signature.
 */
const DOMAIN = 'pushserver channel v1\n';
/**
 * Signatures are compared through an HMAC under this key, made at start and never
 * shown ("double HMAC" comparison): how long a lookup takes then depends on values an
 * attacker cannot relate to the expected signature, so it leaks nothing of it, and a
 * URL's up to 255 signatures are checked against its up to 255 channels in linear time
 * (a pairwise constant-time comparison would cost ~40 ms for such a URL).
 */
const BLINDING_KEY = randomBytes(32);

/** How {@link signedChannelQuery} signs. */
export interface SignOptions {
  /**
   * Seconds the URL stays valid. Absent: it never expires (a leaked URL is then valid
   * until the secret changes).
   */
  expiresIn?: number;
  /** The current time in ms (for tests). @default Date.now() */
  now?: number;
}

/**
 * The signature of one channel id under `secret`, base64url.
 *
 * @param channelId the decoded channel id
 * @param secret the signing secret (the settings' first)
 * @param expires Unix seconds, or null for no expiry
 * @example channelSignature('room-1', secret, 1800000000) // '3q2-7w...' (43 characters)
 */
export function channelSignature(
  channelId: string,
  secret: string,
  expires: number | null,
): string {
  return digest(channelId, secret, expires).toString('base64url');
}

/**
 * The query string (without `?`) that signs `channelIds`, one expiry for all.
 *
 * @param channelIds the decoded ids, one for a channel URL, several for a multiplexed one
 * @param secret the signing secret
 * @param options `expiresIn` seconds, `now`
 * @returns e.g. `exp=1800000000&sig=abc…` or `sig=abc…,def…`
 * @throws RangeError for an `expiresIn` that is not a positive number of seconds
 * @example signedChannelQuery(['room-1'], secret, { expiresIn: 3600 })
 */
export function signedChannelQuery(
  channelIds: readonly string[],
  secret: string,
  options: SignOptions = {},
): string {
  const expires = expiryOf(options);
  const signatures = channelIds.map((id) => channelSignature(id, secret, expires));
  const exp = expires === null ? '' : `${EXPIRY_PARAM}=${expires}&`;
  return `${exp}${SIGNATURE_PARAM}=${signatures.join(',')}`;
}

/** Unix seconds `expiresIn` from now, or null without one. */
export function expiryOf(options: SignOptions): number | null {
  const { expiresIn } = options;
  if (expiresIn === undefined) return null;
  if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0) {
    throw new RangeError(
      `expiresIn must be a positive number of seconds, e.g. 3600, got ${String(expiresIn)}`,
    );
  }
  return Math.floor((options.now ?? Date.now()) / 1000 + expiresIn);
}

/** Why a signed channel request is refused; each is answered 403 with this one line. */
export type SignatureProblem =
  | 'the channel URL carries no signature (sig); build it with channelUrl(id, {signed: true})'
  | 'the channel URL has a malformed signature or expiry'
  | 'the channel URL has a wrong signature'
  | 'the channel URL has expired; render the page again for a fresh one';

/**
 * Check the signatures of a subscriber request: every channel of `channelIds` needs a
 * valid, unexpired signature in the query. Compared without a timing leak (through a
 * secret blinding HMAC); the problem never contains the expected signature.
 *
 * @param channelIds the decoded channel ids of the request (several when multiplexed)
 * @param query the request's query string, without `?`
 * @param secrets every secret that may have signed (the first signs; the others are
 *   older ones still accepted while their URLs are in use)
 * @param now the current time in ms @default Date.now()
 * @returns undefined when every channel is signed, else the problem (a one-line 403 body)
 * @example verifyChannelSignatures(['room-1'], 'sig=abc', secrets) // 'the channel URL has a wrong signature'
 */
export function verifyChannelSignatures(
  channelIds: readonly string[],
  query: string,
  secrets: readonly string[],
  now = Date.now(),
): SignatureProblem | undefined {
  const params = new URLSearchParams(query);
  const given = params.getAll(SIGNATURE_PARAM);
  if (given.length === 0 || given[0] === '') {
    return 'the channel URL carries no signature (sig); build it with channelUrl(id, {signed: true})';
  }
  const expiryText = params.getAll(EXPIRY_PARAM);
  const parts = given.length === 1 ? given[0].split(',') : [];
  if (
    secrets.length === 0 ||
    parts.length === 0 ||
    parts.length > MAX_SIGNATURES ||
    expiryText.length > 1 ||
    (expiryText.length === 1 && !/^[0-9]{1,12}$/.test(expiryText[0]))
  ) {
    return 'the channel URL has a malformed signature or expiry';
  }
  if (channelIds.length > MAX_SIGNATURES) return 'the channel URL has a wrong signature';
  const signatures = new Set<string>();
  for (const part of parts) {
    const bytes = /^[A-Za-z0-9_-]{43}$/.test(part) ? Buffer.from(part, 'base64url') : undefined;
    if (bytes?.length !== SIGNATURE_BYTES) {
      return 'the channel URL has a malformed signature or expiry';
    }
    signatures.add(blind(bytes));
  }
  const expires = expiryText.length === 1 ? Number(expiryText[0]) : null;
  for (const channel of channelIds) {
    if (!signedBy(channel, expires, signatures, secrets)) {
      return 'the channel URL has a wrong signature';
    }
  }
  // Checked after the signatures, which cover the expiry: a changed `exp` is a wrong signature.
  if (expires !== null && expires * 1000 <= now) {
    return 'the channel URL has expired; render the page again for a fresh one';
  }
  return undefined;
}

/** Whether one of `signatures` (blinded) is `channel`'s under one of `secrets`. */
function signedBy(
  channel: string,
  expires: number | null,
  signatures: ReadonlySet<string>,
  secrets: readonly string[],
): boolean {
  for (const secret of secrets) {
    if (signatures.has(blind(digest(channel, secret, expires)))) return true;
  }
  return false;
}

/** A signature as compared: its HMAC under {@link BLINDING_KEY}. */
function blind(signature: Buffer): string {
  return createHmac('sha256', BLINDING_KEY).update(signature).digest('base64');
}

function digest(channelId: string, secret: string, expires: number | null): Buffer {
  return createHmac('sha256', secret)
    .update(`${DOMAIN}${channelId}\n${expires ?? ''}`)
    .digest();
}
