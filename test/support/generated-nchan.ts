import { nginxConfig } from '../../src/server/cli/nginx-config.js';
import {
  type PushServerSettings,
  type ResolvedSettings,
  resolveSettings,
} from '../../src/settings/index.js';
import { type Nchan, startNchan } from './nchan.js';

/** Real nginx + Nchan running the config `runpushserver nginx-config` generates. */
export interface GeneratedNchan {
  nchan: Nchan;
  /** The settings with the port nginx listens on: build URLs and publish with these. */
  settings: ResolvedSettings;
  /** The generated config as written (port placeholder filled in by startNchan). */
  config: string;
  /** What the generator said Nchan does differently. */
  notes: string[];
}

/** A port no test listens on: the generated `listen` line names it, then startNchan's free port replaces it. */
const PLACEHOLDER_PORT = 1;

/**
 * Generate the nginx config for `settings` and start real nginx + Nchan with it on a
 * free port (test/support/nchan.ts), as a user would run `runpushserver nginx-config`.
 *
 * @example const { nchan, settings } = await startGeneratedNchan({ store: { type: 'redis', url } });
 */
export async function startGeneratedNchan(input: PushServerSettings): Promise<GeneratedNchan> {
  const generated = nginxConfig(
    resolveSettings({ ...input, address: '127.0.0.1', port: PLACEHOLDER_PORT }, 'test settings'),
  );
  const listen = `listen 127.0.0.1:${PLACEHOLDER_PORT};`;
  if (!generated.text.includes(listen)) throw new Error(`no "${listen}" in the generated config`);
  const config = generated.text.replace(listen, 'listen 127.0.0.1:__PORT__;');
  const nchan = await startNchan({ config });
  const settings = resolveSettings({ ...input, port: nchan.port }, 'test settings');
  return { nchan, settings, config, notes: generated.notes };
}
