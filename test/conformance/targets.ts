import { readFileSync } from 'node:fs';
import { createPushServer, type PushServerOptions } from '../../src/server/daemon.js';
import type { PushServerSettings, StoreSettings } from '../../src/settings/index.js';
import { startNchan } from '../support/nchan.js';

/** A running server the conformance suite talks to. */
export interface Target {
  /** `nchan` or `pushserver`: the suite asserts the deliberate differences per kind. */
  kind: 'nchan' | 'pushserver';
  /** `http://127.0.0.1:<port>` */
  origin: string;
  stop(): Promise<void>;
}

/** Starts a fresh target for one run of the suite. */
export type StartTarget = () => Promise<Target>;

const NGINX_CONF = readFileSync(new URL('./nginx.conf', import.meta.url), 'utf8');

/** Real Nchan with test/conformance/nginx.conf (the locations the suite uses). */
export async function startNchanTarget(): Promise<Target> {
  const nchan = await startNchan({ config: NGINX_CONF });
  return { kind: 'nchan', origin: nchan.origin, stop: () => nchan.stop() };
}

/**
 * The daemon's settings equivalent to test/conformance/nginx.conf. Nchan keeps buffer
 * limits per publisher location; here they belong to a store, so `/pubshort/` and
 * `/subshort/` use a second store named `short`.
 *
 * @param stores the two stores (`default`: 100 messages / 60 s, `short`: 3 messages / 2 s)
 */
export function conformanceSettings(
  stores: { default: StoreSettings; short: StoreSettings } = {
    default: { type: 'memory', maxMessages: 100, messageTimeout: 60 },
    short: { type: 'memory', maxMessages: 3, messageTimeout: 2 },
  },
): PushServerSettings {
  return {
    store: stores,
    locations: [
      { type: 'publisher', prefix: '/publisher/', maxBodySize: 3 * 1024 * 1024 },
      { type: 'publisher', prefix: '/pubshort/', store: 'short' },
      { type: 'subscriber', prefix: '/subscriber/' },
      { type: 'subscriber', prefix: '/sublp/', transports: ['longpoll'] },
      { type: 'subscriber', prefix: '/subes/', transports: ['eventsource'] },
      { type: 'subscriber', prefix: '/multi/', splitDelimiter: ',' },
      { type: 'subscriber', prefix: '/subshort/', store: 'short', transports: ['longpoll'] },
      { type: 'subscriber', prefix: '/subcors/', allowOrigin: 'http://127.0.0.1:8000' },
      {
        type: 'subscriber',
        prefix: '/subinterval/',
        polling: 'interval',
        transports: ['longpoll'],
      },
      { type: 'subscriber', prefix: '/subtimeout/', subscriberTimeout: 1 },
    ],
  };
}

/**
 * This daemon, in process, on a free port.
 *
 * @param settings @default conformanceSettings() (memory stores)
 * @param options passed to createPushServer (e.g. stores built by the test)
 */
export function pushServerTarget(
  settings: PushServerSettings = conformanceSettings(),
  options: PushServerOptions = {},
): StartTarget {
  return async () => {
    const push = createPushServer({ ...settings, port: 0 }, options);
    const { port } = await push.listen(0, '127.0.0.1');
    return { kind: 'pushserver', origin: `http://127.0.0.1:${port}`, stop: () => push.close() };
  };
}
