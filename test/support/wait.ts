/**
 * Resolve when `check` returns a truthy value, polling every `intervalMs`; reject
 * with `what` after `timeoutMs`. For state only observable by asking (a server's
 * subscriber count), never as a stand-in for an event that can be awaited.
 */
export async function waitUntil<T>(
  what: string,
  check: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 20 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
