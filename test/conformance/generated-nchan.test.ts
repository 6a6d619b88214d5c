// The conformance suite against real Nchan running the config `runpushserver
// nginx-config` generates from conformanceSettings(): the generated config must behave
// as the hand-written test/conformance/nginx.conf (the reference) in every case.
import { startGeneratedNchan } from '../support/generated-nchan.js';
import { NCHAN, needs } from '../support/system.js';
import { runConformance } from './suite.js';
import { conformanceSettings } from './targets.js';

runConformance(
  'conformance: Nchan with the config generated from conformanceSettings()',
  async () => {
    const { nchan } = await startGeneratedNchan(conformanceSettings());
    return { kind: 'nchan', origin: nchan.origin, stop: () => nchan.stop() };
  },
  { skip: needs(NCHAN) },
);
