// `node --import ./register-source-exports.mjs`: the package's own name resolves to the
// TypeScript sources in a child process (see source-exports.mjs).
import { register } from 'node:module';

register('./source-exports.mjs', import.meta.url);
