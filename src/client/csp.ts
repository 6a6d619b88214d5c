/**
 * A page whose Content-Security-Policy leaves the daemon out of `connect-src` (e.g. only
 * `default-src 'self'`): the browser refuses every poll before it leaves the page, and
 * `fetch` (or EventSource) fails as on a network error, so the client would retry for ever. The
 * `securitypolicyviolation` event names the refused URL: its connection stops instead,
 * with a console error and a fatal `error` event that name `connect-src`.
 */
import { allConnections } from './connection.js';
import { logError } from './events.js';
import { global } from './global.js';

/** `securitypolicyviolation` on the document: stop each connection whose URL the policy refused. */
export function onSecurityPolicyViolation(event: SecurityPolicyViolationEvent): void {
  // A report-only policy refuses nothing.
  if (event.disposition === 'report') return;
  if (!/^connect-src\b/.test(event.effectiveDirective || event.violatedDirective || '')) return;
  for (const connection of [...allConnections()]) {
    const url = connection.requestUrl;
    const target = absoluteUrl(url);
    if (target && isBlockedUrl(event.blockedURI, url, target)) {
      connection.fail(
        'failed',
        0,
        `the page's Content-Security-Policy blocks ${url} (connect-src); ` +
          `allow the push daemon in connect-src, e.g. "connect-src 'self' ${target.origin}"`,
        logError,
      );
    }
  }
}

/** `url` resolved against the document, without its fragment; null when it is no URL. */
function absoluteUrl(url: string): URL | null {
  try {
    const target = new URL(url, global.document ? global.document.baseURI : undefined);
    target.hash = '';
    return target;
  } catch (_error) {
    return null;
  }
}

/**
 * Whether `blockedURI` (the whole URL without its fragment, or only its origin when the
 * browser withholds the rest) is `url`.
 */
function isBlockedUrl(blockedURI: string, url: string, target: URL): boolean {
  if (!blockedURI) return false;
  return blockedURI === url || blockedURI === target.href || blockedURI === target.origin;
}
