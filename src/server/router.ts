/**
 * The daemon's one router: which location of the settings a request path names, and
 * the channel id in it. node:http's handler, the raw socket path and `--allrequests`
 * all route through it, so a path means the same thing on every transport.
 *
 * @module
 */
import { decodePathChannelId, type PathChannelProblem } from '../channel/id.js';
import type { ResolvedLocation } from '../settings/index.js';

/** A path a location answers: the location's index in the settings and the decoded channel id. */
export interface RouteMatch {
  /** Index of the location in `settings.locations` (first match wins, as in the settings' order). */
  index: number;
  channel: string;
}

/** Routes request paths to the locations of the settings, in their order. */
export class Router {
  /** @param locations the settings' locations, in order */
  constructor(private readonly locations: readonly ResolvedLocation[]) {}

  /**
   * Route one path.
   *
   * @param path the request path without its query, still percent-encoded
   * @returns the location and channel; why the channel id is unusable (a 400 with its
   *   one-line reason); or undefined when no location matches (a 404, or the app's under
   *   `--allrequests`)
   * @example new Router(resolveSettings().locations).route('/subscriber/a%20b') // { index: 1, channel: 'a b' }
   */
  route(path: string): RouteMatch | PathChannelProblem | undefined {
    const locations = this.locations;
    for (let index = 0; index < locations.length; index++) {
      const encoded = locations[index].pattern.matchEncoded(path);
      if (encoded === undefined) continue;
      const channel = decodePathChannelId(encoded);
      return typeof channel === 'string' ? { index, channel } : channel;
    }
    return undefined;
  }
}

/**
 * The path of a request target without its query string.
 *
 * @example requestPath('/subscriber/a?x=1') // '/subscriber/a'
 */
export function requestPath(url: string | undefined): string {
  if (url === undefined) return '/';
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}
