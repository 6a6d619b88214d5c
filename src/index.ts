/**
 * pushserver: live updates for server-rendered Node apps.
 *
 * The core: settings, channel URLs, the publisher and signals. Importing it loads
 * no template engine, no Express and no daemon code.
 *
 * @example
 * import { channelUrl, sendUpdate } from 'pushserver';
 * await sendUpdate('room-1', { type: 'message', text: 'hi' });
 */

export { encodeChannelId, MAX_CHANNEL_ID_BYTES } from './channel/id.js';
export {
  compileLocation,
  type LocationPattern,
  type ReversedPath,
} from './channel/location-pattern.js';
export {
  channelSignature,
  type SignatureProblem,
  type SignOptions,
  signedChannelQuery,
  verifyChannelSignatures,
} from './channel/signature.js';
export {
  type ChannelUrlOptions,
  channelUrl,
  type MultiplexTarget,
  multiChannelUrl,
  multiplexTarget,
  multiplexTargets,
  publisherUrl,
} from './channel/urls.js';
export { ChannelIdError, PublishError, SettingsError } from './errors.js';
export { escapejs, jsonForScript } from './escape.js';
export {
  type PresenceEvent,
  type PresenceOptions,
  type PresenceTracker,
  trackPresence,
} from './presence.js';
export * from './publish/index.js';
export {
  configure,
  defineSettings,
  getSettings,
  type HostSettings,
  type LocationSettings,
  type MemoryStoreSettings,
  type PushServerSettings,
  type RedisStoreSettings,
  type ResolvedLocation,
  type ResolvedSettings,
  type ResolvedStore,
  readConfigFile,
  resetSettings,
  resolveSettings,
  type StoreSettings,
} from './settings/index.js';
export {
  type ChannelSignal,
  type SignalEvents,
  type SignalListener,
  type SignalPayload,
  type Signals,
  signals,
} from './signals.js';
export {
  createTemplateHelpers,
  DEFAULT_CLIENT_SRC,
  type MultiplexedChannel,
  type RenderedChannel,
  type SubscriptionChannels,
  type SubscriptionMode,
  type SubscriptionSnippetOptions,
  type SubscriptionUrl,
  subscriptionSnippet,
  type TemplateHelperOptions,
  type TemplateHelpers,
  templateChannelUrl,
  templatesDirectory,
} from './snippet.js';
export * from './stream/index.js';
