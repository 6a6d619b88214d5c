/**
 * The page's global object, typed as far as the client uses it. Every property is
 * optional: the client also loads where there is no document (a worker, a test runner)
 * or no jQuery, and a second copy finds the first one's `pushserver.updates`.
 */
import type { Updates } from './types.js';

/** The globals the client reads or sets. */
export interface ClientGlobal {
  pushserver?: { updates?: Updates };
  jQuery?: { updates?: Updates };
  document?: Document;
  console?: Console;
  reportError?: (error: unknown) => void;
  addEventListener?: Window['addEventListener'];
  CustomEvent?: typeof CustomEvent;
}

/** `window` in a page. */
export const global = globalThis as unknown as ClientGlobal;
