/**
 * The publisher: `sendUpdate` posts a message to a channel through the push daemon (or
 * Nchan), over its own keep-alive client, and reports what the daemon did. This folder
 * holds the API (`publisher.ts`), the request (`request.ts`), the two transports, the
 * result and signals (`result.ts`) and the test double (`recording.ts`).
 *
 * @module
 */
export { type ChannelInfo, parseChannelInfo } from '../channel/info.js';
export { createPublisher, sendUpdate, setDefaultPublisher } from './publisher.js';
export {
  createRecordingPublisher,
  type RecordedUpdate,
  type RecordingPublisher,
} from './recording.js';
export type {
  PostSendUpdateEvent,
  PreSendUpdateEvent,
  Publisher,
  PublishRequest,
  PublishResponse,
  SendUpdateOptions,
  SendUpdateResult,
} from './types.js';
