/**
 * The settings in effect in this process, in layers: the defaults, then the config
 * file (read once, on first use), then every `configure()` call merged in order.
 *
 * @module
 */
import { mergeSettings, readConfigFile } from './config-file.js';
import { resolveSettings } from './schema.js';
import type { PushServerSettings, ResolvedSettings } from './types.js';

let fileLayer: { settings: PushServerSettings; source: string } | undefined;
let codeLayer: PushServerSettings = {};
let current: ResolvedSettings | undefined;

/**
 * Set settings in code; they win over the config file. Calls merge with earlier ones.
 * Validates at once.
 *
 * @returns the resolved settings now in effect
 * @throws SettingsError naming the key path and the reason
 * @example configure({ subscriberHost: { location: 'push.example.com', secure: true } });
 */
export function configure(settings: PushServerSettings): ResolvedSettings {
  const next = mergeSettings(codeLayer, settings);
  const resolved = resolveLayers(next);
  codeLayer = next;
  current = resolved;
  return resolved;
}

/**
 * The settings in effect: defaults, then the config file (read once), then `configure()`.
 *
 * @throws SettingsError when the config file or the configured settings are invalid
 * @example getSettings().subscriberHost.location // '127.0.0.1:8001'
 */
export function getSettings(): ResolvedSettings {
  current ??= resolveLayers(codeLayer);
  return current;
}

/**
 * Put `settings` in place of the config file, under every `configure()` call: how
 * `runpushserver --allrequests --app` tells the app in its process the settings the
 * daemon listens with (its config file, the command line, the port it really bound),
 * so `channelUrl` and `sendUpdate` point at that one port.
 *
 * @param settings the daemon's settings as given (not resolved)
 * @param source where they came from, as the banner says it
 * @throws SettingsError when they are invalid
 * @example useDaemonSettings({ port: 8000 }, 'runpushserver --allrequests');
 */
export function useDaemonSettings(settings: PushServerSettings, source: string): void {
  const previous = fileLayer;
  fileLayer = { settings, source };
  current = undefined;
  try {
    getSettings();
  } catch (error) {
    fileLayer = previous;
    throw error;
  }
}

/** Forget `configure()` calls and the config file read; for tests. */
export function resetSettings(): void {
  fileLayer = undefined;
  codeLayer = {};
  current = undefined;
}

function resolveLayers(code: PushServerSettings): ResolvedSettings {
  fileLayer ??= readConfigFile();
  const hasCode = Object.keys(code).length > 0;
  const source = hasCode
    ? fileLayer.source === 'defaults'
      ? 'configure()'
      : `${fileLayer.source} + configure()`
    : fileLayer.source;
  return resolveSettings(mergeSettings(fileLayer.settings, code), source);
}
