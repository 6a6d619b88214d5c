/**
 * A page whose Content-Security-Policy leaves the daemon out of `connect-src` (e.g. only
 * `default-src 'self'`): the browser refuses every poll before it leaves the page, and
 * `fetch` fails as on a network error, so the channel would retry for ever. The
 * `securitypolicyviolation` event names the refused URL: such a channel stops instead,
 * with a console error and a fatal `error` event that name `connect-src`.
 */
import { channels } from './channel.js';
import { global } from './global.js';

/** `securitypolicyviolation` on the document: stop each channel whose URL the policy refused. */
export function onSecurityPolicyViolation(event: SecurityPolicyViolationEvent): void {
  // A report-only policy refuses nothing.
  if (event.disposition === 'report') return;
  if (!/^connect-src\b/.test(event.effectiveDirective || event.violatedDirective || '')) return;
  for (const channel of channels.values()) {
    if (!channel.running) continue;
    const target = absoluteUrl(channel.url);
    if (target && isBlockedUrl(event.blockedURI, channel.url, target)) {
      channel.blockedByPolicy(target.origin);
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
