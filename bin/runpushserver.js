#!/usr/bin/env node
// `npx runpushserver`: the push daemon's command line (built from src/server/cli.ts).
import { main } from '../dist/server/cli.js';

main(process.argv.slice(2));
