/**
 * pushserver browser client: live updates for server-rendered pages.
 *
 * Subscribes to channels on a push daemon that speaks Nchan's long-poll protocol
 * (`npx runpushserver`, or nginx + Nchan) and hands every update, a JSON object,
 * to the processors registered for its `type`.
 *
 *   $.updates.subscribe({ main: 'http://127.0.0.1:8001/subscriber/room-1' });
 *   $.updates.registerProcessor('main', 'message', (data) => { ... });
 *
 * Without jQuery the same object is `window.pushserver.updates`. A page with a strict
 * Content-Security-Policy lists its channels in a non-executable block instead of an
 * inline script; this file reads every such block by itself:
 *
 *   <script type="application/json" data-pushserver-channels>{"main": "http://..."}</script>
 *
 * No dependencies. Requests go through `fetch` with or without jQuery, so the page's own
 * Ajax settings, global Ajax events and pending requests are never touched.
 */
import { onSecurityPolicyViolation } from './csp.js';
import { subscribeFromDocument } from './data-blocks.js';
import { flushReadyQueue } from './events.js';
import { global } from './global.js';
import { attachToJQuery } from './jquery.js';
import { onPagehide, onPageshow } from './page-lifecycle.js';
import type { Updates } from './types.js';
import { updates } from './updates.js';

const namespace = global.pushserver || {};
global.pushserver = namespace;

if (namespace.updates) {
  // Loaded twice (two script tags): keep the first instance and its subscriptions.
  attachToJQuery(namespace.updates);
} else {
  install(namespace);
}

/**
 * Publish the API, attach it to jQuery, follow the page's lifecycle, watch for the page's
 * CSP refusing a channel, read the data blocks.
 */
function install(target: { updates?: Updates }): void {
  target.updates = updates;
  attachToJQuery(updates);

  if (typeof global.addEventListener === 'function') {
    global.addEventListener('pagehide', onPagehide);
    global.addEventListener('pageshow', onPageshow);
  }

  const document = global.document;
  if (document) document.addEventListener('securitypolicyviolation', onSecurityPolicyViolation);
  subscribeFromDocument();
  if (document && document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', () => {
      // jQuery may have been loaded after this file.
      attachToJQuery(updates);
      subscribeFromDocument();
      flushReadyQueue();
    });
  }
}
