import type { Page } from 'playwright-core';
import type { Publisher } from '../../../src/publish/index.js';

/** What test/e2e/fixtures/probe.js records in `window.probe`. */
export interface ProbeState {
  jquery: string | null;
  sameApi: boolean;
  received: number[];
  calls: string[];
  errors: { status: number | null; fatal: boolean; retryIn: number | null; message: string }[];
  states: string[];
}

/** The probe's record right now. */
export function readProbe(page: Page): Promise<ProbeState> {
  return page.evaluate(() => (window as unknown as { probe: ProbeState }).probe);
}

/** Resolve once the page has received `count` updates. */
export async function waitForReceived(page: Page, count: number, timeout = 45_000): Promise<void> {
  await page.waitForFunction(
    (n) => ((window as unknown as { probe?: ProbeState }).probe?.received.length ?? 0) >= n,
    count,
    { timeout, polling: 50 },
  );
}

/** Update number `n`: odd ones are `tick`, even ones `tock`, as the probe expects. */
export function numbered(n: number, type = n % 2 === 1 ? 'tick' : 'tock') {
  return { type, n };
}

/** The processor calls the probe must have seen for `updates`, in order. */
export function expectedCalls(updates: { type: string; n: number }[]): string[] {
  return updates.flatMap(({ type, n }) =>
    type === 'tick' ? [`tick-1:${n}`, `tick-2:${n}`] : [`tock:${n}`],
  );
}

/**
 * Publish `updates` to `channelId` in bursts of `burstSize` (one after the other, so
 * several land in the same second), pausing `pauseMs` between bursts.
 */
export async function publishInBursts(
  publisher: Publisher,
  channelId: string,
  updates: unknown[],
  { burstSize = 10, pauseMs = 150 } = {},
): Promise<void> {
  for (let start = 0; start < updates.length; start += burstSize) {
    for (const update of updates.slice(start, start + burstSize)) {
      await publisher.sendUpdate(channelId, update);
    }
    // Pacing between bursts is the scenario, not synchronisation.
    if (start + burstSize < updates.length)
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

/** 1..n */
export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/**
 * Message ids have one-second resolution and a restarted (or deleted and recreated)
 * channel counts from 0 again: a message published in the same second as the last one a
 * page saw would sort before the page's cursor. Wait for the next second (the protocol's
 * clock, not synchronisation).
 */
export async function nextSecond(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 20));
}
