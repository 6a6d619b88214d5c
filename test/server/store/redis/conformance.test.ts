// The conformance suite (the same cases as against Nchan) against this daemon with Redis stores.
import { after } from 'node:test';
import { runConformance } from '../../../conformance/suite.js';
import { conformanceSettings, pushServerTarget } from '../../../conformance/targets.js';
import { type Redis, startRedis } from '../../../support/redis.js';
import { needs, REDIS } from '../../../support/system.js';

const skip = needs(REDIS);
const redis: Redis | undefined = skip ? undefined : await startRedis();
after(() => redis?.destroy());
const url = redis?.url ?? 'redis://127.0.0.1:6379';

runConformance(
  'conformance: pushserver, redis store',
  pushServerTarget(
    conformanceSettings({
      default: { type: 'redis', url, keyPrefix: 'c:', maxMessages: 100, messageTimeout: 60 },
      short: { type: 'redis', url, keyPrefix: 's:', maxMessages: 3, messageTimeout: 2 },
    }),
  ),
  { skip },
);
