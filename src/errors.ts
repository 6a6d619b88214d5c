/**
 * Settings are wrong: a key is unknown, a value out of range, two values contradict
 * each other. The message names the key path and the fix.
 *
 * @example
 * try { configure({ port: 0 }); } catch (e) { if (e instanceof SettingsError) console.error(e.message); }
 */
export class SettingsError extends Error {
  /** Where in the settings the problem is, e.g. `locations[0].url`. */
  readonly path: string;
  constructor(path: string, reason: string) {
    super(path ? `pushserver settings: ${path} ${reason}` : `pushserver settings: ${reason}`);
    this.name = 'SettingsError';
    this.path = path;
  }
}

/**
 * A channel id cannot be used: empty, too long, not a string, or not matched by the
 * location's pattern.
 */
export class ChannelIdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChannelIdError';
  }
}

/**
 * Publishing failed: the daemon answered with an error status, could not be reached,
 * or did not answer in time. `status` is set when the daemon answered.
 */
export class PublishError extends Error {
  readonly url: string;
  readonly status?: number;
  readonly body?: string;
  constructor(
    message: string,
    details: { url: string; status?: number; body?: string; cause?: unknown },
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'PublishError';
    this.url = details.url;
    this.status = details.status;
    this.body = details.body;
  }
}

/**
 * A value as an error message names what was given instead of what was expected.
 *
 * @example describeValue(42) // 'number 42'
 * @example describeValue([]) // 'an array'
 */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${value}`;
  return typeof value === 'object' ? 'an object' : typeof value;
}
