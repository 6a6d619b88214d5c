/**
 * Live HTML fragments in Turbo Streams' wire format: render a partial with the app's
 * engine (`broadcast`), and the markup it publishes (`streamMarkup`).
 *
 * @module
 */
export {
  type BroadcastOptions,
  broadcast,
  renderStream,
  type StreamAction,
  type StreamRenderer,
  setStreamRenderer,
} from './broadcast.js';
export {
  type RenderedStreamAction,
  STREAM_ACTIONS,
  type StreamActionName,
  type StreamTarget,
  streamMarkup,
  TURBO_STREAM_CONTENT_TYPE,
} from './markup.js';
