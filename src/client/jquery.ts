/** `$.updates`: the client's API on jQuery, when jQuery is on the page. */
import { global } from './global.js';
import type { Updates } from './types.js';

/** Set `jQuery.updates` to `api` unless the page's jQuery already has one. */
export function attachToJQuery(api: Updates): void {
  const jQuery = global.jQuery;
  if (jQuery && !jQuery.updates) jQuery.updates = api;
}
