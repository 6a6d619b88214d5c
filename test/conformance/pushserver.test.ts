// The conformance suite against this daemon with its memory store.
import { runConformance } from './suite.js';
import { pushServerTarget } from './targets.js';

runConformance('conformance: pushserver, memory store', pushServerTarget());
