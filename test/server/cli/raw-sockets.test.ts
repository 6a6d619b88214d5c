// `runpushserver --no-raw-sockets` and PUSHSERVER_NODE_INTERNALS_OFF: node:http serves
// every request, the banner says so, and the protocol answers are the same.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { type DaemonProcess, startCommand } from '../../support/daemon-process.js';

const daemons: DaemonProcess[] = [];
const CONFIG = join(tmpdir(), `pushserver-raw-sockets-${process.pid}.json`);
writeFileSync(CONFIG, JSON.stringify({ rawSockets: false }));
after(() => Promise.all(daemons.map((daemon) => daemon.stop())));

async function roundTrip(base: string): Promise<{ status: number; body: string }> {
  const published = await fetch(`${base}/publisher/r`, { method: 'POST', body: 'hi' });
  assert.equal(published.status, 202);
  const polled = await fetch(`${base}/subscriber/r`, { signal: AbortSignal.timeout(5000) });
  return { status: polled.status, body: await polled.text() };
}

describe('the raw socket path can be switched off', () => {
  for (const [label, args, env, line] of [
    ['--no-raw-sockets', ['--no-raw-sockets'], {}, 'raw socket path off (--no-raw-sockets)'],
    [
      'rawSockets: false',
      ['--config', CONFIG],
      {},
      'raw socket path off (rawSockets: false in the settings)',
    ],
    [
      'PUSHSERVER_NODE_INTERNALS_OFF=connectionHandOff',
      [],
      { PUSHSERVER_NODE_INTERNALS_OFF: 'connectionHandOff' },
      'raw socket path off (Node internals: sharedReadBuffer on, prebuiltHead on, connectionHandOff off (switched off))',
    ],
  ] as const) {
    test(`${label}: the banner names the path and the daemon answers`, async () => {
      const daemon = await startCommand([...args], { ...env });
      daemons.push(daemon);
      assert.ok(daemon.stdout().includes(`Node ${process.version}, ${line}\n`), daemon.stdout());
      assert.deepEqual(await roundTrip(daemon.url), { status: 200, body: 'hi' });
    });
  }
});
