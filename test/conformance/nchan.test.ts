// The conformance suite against real Nchan (nginx + nchan module): the reference.
import { NCHAN, needs } from '../support/system.js';
import { runConformance } from './suite.js';
import { startNchanTarget } from './targets.js';

runConformance('conformance: Nchan', startNchanTarget, { skip: needs(NCHAN) });
