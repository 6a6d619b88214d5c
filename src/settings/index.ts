/**
 * Settings: the one object that configures the helpers, the publisher and the daemon,
 * checked at start with the key path and the reason of any mistake. The keys with their
 * defaults and checks are in `schema.ts`, their types in `types.ts`, the config file in
 * `config-file.ts` and the process-wide `configure()` / `getSettings()` in `current.ts`;
 * `validate.ts` is the machinery that reads the schema.
 *
 * @module
 */
export {
  defineSettings,
  mergeSettings,
  type NamedConfigFile,
  readConfigFile,
} from './config-file.js';
export { configure, getSettings, resetSettings, useDaemonSettings } from './current.js';
export { DEFAULT_ADDRESS, DEFAULT_PORT, hostPort, resolveSettings } from './schema.js';
export type {
  HostSettings,
  LocationSettings,
  MemoryStoreSettings,
  PushServerSettings,
  RedisStoreSettings,
  ResolvedLocation,
  ResolvedSettings,
  ResolvedStore,
  StoreSettings,
  SubscriberTransport,
} from './types.js';
