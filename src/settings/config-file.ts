/**
 * The config file: `--config FILE` or `PUSHSERVER_CONFIG` when given, else the first
 * `pushserver.config.{js,mjs,cjs,json}` in the working directory; and how its settings
 * merge with those set in code.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { SettingsError } from '../errors.js';
import type { PushServerSettings } from './types.js';
import { isPlainObject } from './validate.js';

/** Looked for in the working directory, in this order, when no file is named. */
const CONFIG_FILES = [
  'pushserver.config.js',
  'pushserver.config.mjs',
  'pushserver.config.cjs',
  'pushserver.config.json',
];

/** A config file named by the user, and where its name came from (for the error when it is missing). */
export interface NamedConfigFile {
  /** The file, absolute or relative to the working directory. */
  path: string;
  /** Where the name came from, e.g. `--config` or `PUSHSERVER_CONFIG`. */
  from: string;
}

/**
 * Typed identity for config files: `export default defineSettings({...})`.
 *
 * @example export default defineSettings({ port: 9000 });
 */
export function defineSettings(settings: PushServerSettings): PushServerSettings {
  return settings;
}

/**
 * Read the config file: `named` if given, else `PUSHSERVER_CONFIG` if set, else the
 * first of `pushserver.config.{js,mjs,cjs,json}` in `cwd`. Synchronous, so template
 * helpers can call it; ES modules load through `require()` (Node 20.19+), so they may
 * not use top-level await.
 *
 * @param cwd where relative names and the default files are looked up
 * @param env where `PUSHSERVER_CONFIG` is read
 * @param named a file the user named some other way, such as `runpushserver --config`
 * @returns the file's settings and its path, or empty settings and `'defaults'`
 * @throws SettingsError when the named file is missing or does not parse
 * @example readConfigFile(process.cwd(), process.env, { path: 'push.json', from: '--config' })
 */
export function readConfigFile(
  cwd = process.cwd(),
  env: NodeJS.ProcessEnv = process.env,
  named: NamedConfigFile | undefined = env.PUSHSERVER_CONFIG
    ? { path: env.PUSHSERVER_CONFIG, from: 'PUSHSERVER_CONFIG' }
    : undefined,
): { settings: PushServerSettings; source: string } {
  const path = named
    ? resolve(cwd, named.path)
    : CONFIG_FILES.map((name) => resolve(cwd, name)).find((file) => existsSync(file));
  if (!path) return { settings: {}, source: 'defaults' };
  if (!existsSync(path))
    throw new SettingsError('', `config file ${path} (from ${named?.from}) does not exist`);
  try {
    if (path.endsWith('.json'))
      return { settings: JSON.parse(readFileSync(path, 'utf8')), source: path };
    const loaded = createRequire(import.meta.url)(path);
    const settings =
      loaded && typeof loaded === 'object' && 'default' in loaded ? loaded.default : loaded;
    return { settings, source: path };
  } catch (error) {
    throw new SettingsError(
      '',
      `config file ${path} could not be loaded: ${(error as Error).message}`,
    );
  }
}

/**
 * Deep-merge settings layers: objects merge, arrays and stores are replaced.
 *
 * @returns a new object; neither argument is changed
 * @example mergeSettings({ port: 9000 }, { servername: 'x' }) // { port: 9000, servername: 'x' }
 */
export function mergeSettings(
  base: PushServerSettings,
  override: PushServerSettings,
): PushServerSettings {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === undefined) continue;
    const previous = merged[key];
    const mergeable =
      (key === 'publisherHost' || key === 'subscriberHost') &&
      isPlainObject(previous) &&
      isPlainObject(value);
    merged[key] = mergeable ? { ...previous, ...value } : value;
  }
  return merged as PushServerSettings;
}
