/**
 * The app side of private channels: the endpoint a subscriber location's `authorize`
 * URL points at, on the daemon (`authorize` setting) and behind Nchan
 * (`nchan_authorize_request`, README "Private channels"). Both send the subscriber's
 * own headers (so the app's session middleware finds the user) and `X-Original-URI`,
 * the subscriber's request target, from which this reads the channel ids and the
 * signature. One check thus serves the daemon and Nchan alike.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodePathChannelId, MAX_CHANNELS } from '../channel/id.js';
import { verifyChannelSignatures } from '../channel/signature.js';
import { getSettings, type ResolvedLocation, type ResolvedSettings } from '../settings/index.js';

/**
 * Whether the user of `req` may read `channel`. Called once per channel of the
 * subscriber's request (every channel of a multiplexed one), after its signature was
 * verified.
 */
export type AuthorizeCheck<Req = IncomingMessage> = (
  req: Req,
  channel: string,
) => boolean | Promise<boolean>;

/** Options of {@link authorize}. */
export interface AuthorizeOptions {
  /**
   * Verify signed channel ids (the URL's `sig` and `exp`) with the settings' secrets.
   * @default the matched location's `signed` setting
   */
  signed?: boolean;
  /** The settings whose subscriber locations name the channels. @default getSettings() */
  settings?: ResolvedSettings;
}

/**
 * Express middleware (also a plain Node handler) answering a subscriber location's
 * authorize requests: 200 lets the subscriber in; 403 with a one-line reason keeps it
 * out (the daemon and Nchan send that answer on to the subscriber). It
 *
 * - reads the subscriber's request from `X-Original-URI` (400 without it) and finds its
 *   subscriber location in the settings (403 when none matches);
 * - verifies the signature of every channel when the location has `signed: true` (or
 *   `options.signed`): missing, wrong or expired gets 403, compared without a timing leak, naming
 *   neither the secret nor the expected signature;
 * - then asks `check(req, channel)` for each channel; any false gets 403. A check that
 *   throws goes to Express's error handler (a 500, which the subscriber gets).
 *
 * Mount it after the app's session middleware, on the path the location's `authorize`
 * URL (or nginx's `proxy_pass` of `nchan_authorize_request`) names.
 *
 * @param check whether the request's user may read the channel @default every user may (signatures only)
 * @param options `signed`, `settings`
 * @returns a `(req, res, next)` handler
 * @example
 * app.use(session({ secret }));
 * app.use('/push/authorize', authorize((req, channel) => channel === `user-${req.session.userId}`));
 */
export function authorize<Req extends IncomingMessage = IncomingMessage>(
  check?: AuthorizeCheck<Req>,
  options: AuthorizeOptions = {},
): (req: Req, res: ServerResponse, next?: (error?: unknown) => void) => void {
  return (req, res, next) => {
    const settings = options.settings ?? getSettings();
    const target = req.headers['x-original-uri'];
    if (typeof target !== 'string' || !target.startsWith('/')) {
      return answer(
        res,
        400,
        'Bad Request: no X-Original-URI header; send the subscriber request target in it (the daemon does; behind Nchan: proxy_set_header X-Original-URI $request_uri)',
      );
    }
    const request = subscriberRequest(target, settings);
    if (typeof request === 'string') return answer(res, 403, `Forbidden: ${request}`);
    if (options.signed ?? request.location.signed) {
      const problem = verifyChannelSignatures(request.channels, request.query, settings.secrets);
      if (problem !== undefined) return answer(res, 403, `Forbidden: ${problem}`);
    }
    if (!check) return answer(res, 200, '');
    Promise.all(request.channels.map((channel) => check(req, channel))).then(
      (answers) =>
        answers.every((allowed) => allowed === true)
          ? answer(res, 200, '')
          : answer(res, 403, 'Forbidden: not authorized for this channel'),
      (error: unknown) => {
        if (next) next(error);
        else answer(res, 500, 'Internal Server Error: the authorize check failed');
      },
    );
  };
}

/**
 * The subscriber location, channel ids and query of a subscriber request target, as
 * the daemon's router reads them (the id decoded, then split at the location's
 * `splitDelimiter`), or why there are none.
 */
function subscriberRequest(
  target: string,
  settings: ResolvedSettings,
): { location: ResolvedLocation; channels: string[]; query: string } | string {
  const mark = target.indexOf('?');
  const path = mark < 0 ? target : target.slice(0, mark);
  const query = mark < 0 ? '' : target.slice(mark + 1);
  for (const location of settings.locations) {
    const encoded = location.pattern.matchEncoded(path);
    if (encoded === undefined) continue;
    // The first match wins, as in the daemon: a publisher path is not a subscription.
    if (location.type !== 'subscriber') break;
    const channel = decodePathChannelId(encoded);
    if (typeof channel !== 'string') return channel.text;
    const { splitDelimiter } = location;
    const channels = splitDelimiter === null ? [channel] : channel.split(splitDelimiter);
    if (channels.length > MAX_CHANNELS) return `more than ${MAX_CHANNELS} channels`;
    return { location, channels, query };
  }
  return `${path} is not a subscriber location of the settings`;
}

function answer(res: ServerResponse, status: number, text: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(text === '' ? '' : `${text}\n`);
}
