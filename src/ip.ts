import { isIP } from 'node:net';

/**
 * Build a matcher for a list of addresses and CIDR ranges (`127.0.0.0/8`, `::1`,
 * `10.1.2.3`). IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) match their IPv4 form.
 *
 * @throws Error naming the first entry that is not an address or a range.
 * @example addressMatcher(['127.0.0.0/8', '::1'])('::ffff:127.0.0.1') // true
 */
export function addressMatcher(
  ranges: readonly string[],
): (address: string | undefined) => boolean {
  const parsed = ranges.map(parseRange);
  return (address) => {
    if (!address) return false;
    const bits = addressBits(address);
    if (!bits) return false;
    return parsed.some((range) => range.family === bits.family && sameTopBits(range, bits.value));
  };
}

/** The reason `range` is not an address or CIDR range, or undefined when it is fine. */
export function checkRange(range: unknown): string | undefined {
  if (typeof range !== 'string') return 'must be a string such as "10.0.0.0/8" or "::1"';
  try {
    parseRange(range);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Loopback addresses: the default for who may publish and who may send passthrough. */
export const LOOPBACK_RANGES: readonly string[] = ['127.0.0.0/8', '::1'];

/**
 * The header `runpushserver --allrequests --upstream` puts on every request it proxies to
 * the app: the address of the client it proxies for, replacing any value the client sent.
 * The proxy reaches the app from 127.0.0.1, so the passthrough receiver refuses a request
 * whose proxied-for address is not internal: an outside client cannot forge notifications
 * through it. The header can only narrow who is internal, never widen it.
 *
 * @example req.headers[PROXIED_FOR_HEADER] // '203.0.113.7'
 */
export const PROXIED_FOR_HEADER = 'x-pushserver-proxied-for';

interface Range {
  family: 4 | 6;
  value: bigint;
  prefix: number;
}

function parseRange(range: string): Range {
  const [address, prefixText] = range.split('/');
  const bits = addressBits(address);
  if (!bits) throw new Error(`"${range}" is not an IP address or CIDR range`);
  const width = bits.family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? width : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > width || prefixText === '') {
    throw new Error(`"${range}" has a prefix length outside 0..${width}`);
  }
  return { family: bits.family, value: bits.value, prefix };
}

function sameTopBits(range: Range, value: bigint): boolean {
  const width = range.family === 4 ? 32 : 128;
  const shift = BigInt(width - range.prefix);
  return value >> shift === range.value >> shift;
}

function addressBits(address: string): { family: 4 | 6; value: bigint } | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) address = mapped[1];
  const family = isIP(address);
  if (family === 4) {
    const value = address.split('.').reduce((sum, part) => (sum << 8n) + BigInt(Number(part)), 0n);
    return { family: 4, value };
  }
  if (family === 6) return { family: 6, value: ipv6Bits(address) };
  return undefined;
}

function ipv6Bits(address: string): bigint {
  let text = address.split('%')[0];
  // A trailing dotted IPv4 part (`::1.2.3.4`) becomes two hex groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const p = dotted[1].split('.').map(Number);
    text = `${text.slice(0, dotted.index)}${((p[0] << 8) | p[1]).toString(16)}:${((p[2] << 8) | p[3]).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail === undefined ? [] : tail ? tail.split(':') : [];
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups = [
    ...headGroups,
    ...Array(tail === undefined ? 0 : missing).fill('0'),
    ...tailGroups,
  ];
  return groups.reduce((sum, group) => (sum << 16n) + BigInt(Number.parseInt(group, 16)), 0n);
}
