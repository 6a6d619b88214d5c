#!/usr/bin/env node
// `npx runpushserver`: the push daemon's command line (built from src/server/cli/main.ts).
import { main } from '../dist/server/cli/main.js';

main(process.argv.slice(2));
