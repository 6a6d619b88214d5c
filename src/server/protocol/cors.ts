/**
 * CORS as Nchan sends it, for the publisher and subscriber locations alike.
 *
 * @module
 */
import type { ResolvedLocation } from '../../settings/index.js';
import type { HeaderList } from '../transport/response-head.js';

/** CORS decision for one request: no headers, refuse (403), or allow with these headers. */
export type Cors = { refuse: boolean; headers: HeaderList };

const NO_CORS: Cors = { refuse: false, headers: [] };

/**
 * Nchan's CORS: nothing without an `Origin` header; with one, echo it (or the fixed
 * `allowOrigin`) plus `Access-Control-Allow-Credentials: true`; a fixed `allowOrigin`
 * that differs from the request's Origin refuses the request (403, still echoing it).
 *
 * @param origin the request's Origin header
 * @param location the location's `allowOrigin` / `allowCredentials`
 */
export function corsFor(origin: string | undefined, location: ResolvedLocation): Cors {
  if (origin === undefined) return NO_CORS;
  const allowed = location.allowOrigin;
  const headers: HeaderList = [];
  if (location.allowCredentials) headers.push('Access-Control-Allow-Credentials', 'true');
  headers.push('Access-Control-Allow-Origin', allowed === '*' ? '*' : origin);
  return { refuse: allowed !== null && allowed !== '*' && allowed !== origin, headers };
}
