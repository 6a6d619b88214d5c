// Publish to the examples' channel from a plain Node script (a job, a worker, a REPL):
//
//   node examples/publish.mjs "Hello from a script"
//
// Uses the same settings as the apps (127.0.0.1:8001 unless a pushserver.config.* file
// or PUSHSERVER_CONFIG says otherwise).
import { sendUpdate } from 'pushserver';
import { ROOM } from './room.mjs';

const text = process.argv.slice(2).join(' ') || `Hello at ${new Date().toLocaleTimeString()}`;
let result;
try {
  result = await sendUpdate(ROOM, { type: 'message', text });
} catch (error) {
  // PublishError says what failed and how to fix it (e.g. start the daemon).
  console.error(error.message);
  process.exit(1);
}
console.log(
  result.delivered
    ? `delivered to ${result.channel?.subscribers ?? 'some'} waiting subscriber(s)`
    : 'queued: no page was waiting; the next poll gets it',
);
