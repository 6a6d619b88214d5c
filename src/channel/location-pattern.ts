/**
 * Locations: a url or prefix of the settings compiled into a pattern that finds the
 * channel id in a request path (the daemon's router) and builds the path of a channel
 * id (the URL helpers). The rules for the id itself are in `id.ts`.
 *
 * @module
 */
import { ChannelIdError } from '../errors.js';
import { encodeChannelId } from './id.js';

/**
 * A location's URL compiled both ways: `match` finds the channel id in a request
 * path (the daemon), `reverse` builds the path for a channel id (the helpers).
 */
export interface LocationPattern {
  /** The url or prefix as written in the settings. */
  readonly source: string;
  /** Anchored regular expression over the raw (still percent-encoded) path. */
  readonly regex: RegExp;
  /**
   * The channel id in `path` (raw request path without the query), percent-decoded,
   * or `undefined` when the path is not this location's. Throws `URIError` on a
   * malformed escape such as `%zz`.
   */
  match(path: string): string | undefined;
  /** The channel id in `path` as it stands there (still percent-encoded), or `undefined`. */
  matchEncoded(path: string): string | undefined;
  /**
   * The path for `channelId`, which is encoded as one path segment; `keep` (a
   * multiplexed location's delimiter) stays as written.
   */
  reverse(channelId: string, keep?: string): string;
  /**
   * {@link reverse} in its three parts, the path being `before + channel + after`: the
   * location's literal text around the id, and the id as encoded. The same for every id,
   * `before` and `after` frame a multiplexed location's joined ids too.
   */
  reverseParts(channelId: string, keep?: string): ReversedPath;
}

/** A location's path for one channel id, as {@link LocationPattern.reverseParts} splits it. */
export interface ReversedPath {
  /** The literal path before the channel id, e.g. `/multi/`. */
  before: string;
  /** The channel id, percent-encoded as one path segment (a kept delimiter as written). */
  channel: string;
  /** The literal path after the channel id, often `''`. */
  after: string;
}

/** Why a url cannot be used, or the parts it reverses into. */
type Parsed = { error: string } | { before: string; group: string; after: string };

/**
 * Compile a location url. Two styles, as in django-pushserver and Express:
 * a pattern with one named parameter (`/updates/:channel`) or a regular-expression
 * string with exactly one capture group (`/updates/([^/]+)`, `^/u/(?P<id>.+)$`).
 * A `prefix` is shorthand for `prefix + '(.+)'`.
 *
 * @throws Error with a reason when the url cannot be matched and reversed.
 * @example compileLocation({ url: '/updates/:channel' }).reverse('a b') // '/updates/a%20b'
 */
export function compileLocation(spec: { url?: string; prefix?: string }): LocationPattern {
  const source = spec.url ?? spec.prefix ?? '';
  const parsed = spec.url === undefined ? parsePrefix(source) : parseUrl(source);
  if ('error' in parsed) throw new Error(parsed.error);
  const { before, group, after } = parsed;
  const regex = new RegExp(`^${escapeRegex(before)}(${group})${escapeRegex(after)}$`);
  const idRegex = new RegExp(`^(?:${group})$`);
  const reverseParts = (channelId: string, keep?: string): ReversedPath => {
    let encoded = encodeChannelId(channelId);
    if (keep) encoded = encoded.replaceAll(encodeURIComponent(keep), keep);
    if (!idRegex.test(encoded)) {
      throw new ChannelIdError(
        `channel id ${JSON.stringify(channelId)} does not match the location "${source}" (encoded as "${encoded}")`,
      );
    }
    return { before, channel: encoded, after };
  };
  return {
    source,
    regex,
    match(path) {
      const found = regex.exec(path);
      return found ? decodeURIComponent(found[1]) : undefined;
    },
    matchEncoded(path) {
      const found = regex.exec(path);
      return found ? found[1] : undefined;
    },
    reverse(channelId, keep) {
      const parts = reverseParts(channelId, keep);
      return parts.before + parts.channel + parts.after;
    },
    reverseParts,
  };
}

function parsePrefix(prefix: string): Parsed {
  if (!prefix.startsWith('/')) return { error: `must start with "/"` };
  return { before: prefix, group: '.+', after: '' };
}

function parseUrl(url: string): Parsed {
  if (url.includes('(')) return parseRegexUrl(url);
  const params = url.match(/:[A-Za-z_][A-Za-z0-9_]*/g) ?? [];
  if (params.length !== 1) {
    return {
      error: `has ${params.length} parameters; a location needs exactly one (the channel id), e.g. "/updates/:channel" or "/updates/([^/]+)"`,
    };
  }
  if (!url.startsWith('/')) return { error: `must start with "/"` };
  const at = url.indexOf(params[0]);
  return { before: url.slice(0, at), group: '[^/]+', after: url.slice(at + params[0].length) };
}

/** Split a regular-expression url into literal text, the one capture group, literal text. */
function parseRegexUrl(url: string): Parsed {
  let body = url.startsWith('^') ? url.slice(1) : url;
  if (body.endsWith('$') && !body.endsWith('\\$')) body = body.slice(0, -1);
  // Python's named groups, as django-pushserver settings write them.
  body = body.replace(/\(\?P</g, '(?<');
  try {
    new RegExp(body);
  } catch (error) {
    return { error: `is not a valid regular expression: ${(error as Error).message}` };
  }
  const groups: Array<{ start: number; end: number }> = [];
  const stack: Array<{ start: number; capturing: boolean }> = [];
  let inClass = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\\') {
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
    } else if (c === '[') {
      inClass = true;
    } else if (c === '(') {
      // `(...)` and `(?<name>...)` capture; `(?:...)` and lookarounds do not.
      const capturing =
        body[i + 1] !== '?' ||
        (body.startsWith('?<', i + 1) && !/^\?<[=!]/.test(body.slice(i + 1)));
      stack.push({ start: i, capturing });
    } else if (c === ')') {
      const open = stack.pop();
      if (open?.capturing) groups.push({ start: open.start, end: i });
    }
  }
  if (groups.length !== 1) {
    return {
      error: `has ${groups.length} capture groups; a location needs exactly one (the channel id)`,
    };
  }
  const [{ start, end }] = groups;
  const inner = body.slice(start + 1, end).replace(/^\?<[A-Za-z_][A-Za-z0-9_]*>/, '');
  const before = unescapeLiteral(body.slice(0, start));
  const after = unescapeLiteral(body.slice(end + 1));
  if (before === undefined || after === undefined) {
    return {
      error: `cannot be reversed into a URL: outside its capture group it may only hold literal text`,
    };
  }
  if (!before.startsWith('/')) return { error: `must start with "/"` };
  return { before, group: inner, after };
}

/** The literal string a regex fragment matches, or undefined if it is not a literal. */
function unescapeLiteral(fragment: string): string | undefined {
  let out = '';
  for (let i = 0; i < fragment.length; i++) {
    const c = fragment[i];
    if (c === '\\') {
      const next = fragment[i + 1];
      if (next === undefined || /[A-Za-z0-9]/.test(next)) return undefined;
      out += next;
      i++;
    } else if ('.*+?[](){}|^$'.includes(c)) {
      return undefined;
    } else {
      out += c;
    }
  }
  return out;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
