/**
 * Subscriptions listed by a strict-CSP page in non-executable blocks,
 * `<script type="application/json" data-pushserver-channels>{"name": "url"}</script>`,
 * which the client reads by itself.
 */
import { emit, warn } from './events.js';
import { global } from './global.js';
import { updates } from './updates.js';

/** Blocks already read, so reading again at DOMContentLoaded subscribes each once. */
const readBlocks = new WeakSet<Element>();

/** Subscribe to the channels of every block in the document not read yet. */
export function subscribeFromDocument(): void {
  if (!global.document) return;
  for (const block of global.document.querySelectorAll('script[data-pushserver-channels]')) {
    if (readBlocks.has(block)) continue;
    readBlocks.add(block);
    try {
      updates.subscribe(JSON.parse(block.textContent || '{}'));
    } catch (error) {
      // One bad block must not keep the others (or the page's scripts) from running.
      const message = `pushserver: a data-pushserver-channels block is unusable: ${(error as Error).message}`;
      emit('error', {
        channel: null,
        url: null,
        status: null,
        error: new Error(message),
        retryIn: null,
        fatal: true,
      });
      warn(message);
    }
  }
}
