/**
 * How `schema.ts` is read: a `Key` is one setting's default and check, a `Table` is an
 * object of keys, and `resolveObject` walks a table over what the user wrote. Unknown
 * keys are refused with a did-you-mean drawn from the table's own keys.
 *
 * @module
 */
import { SettingsError } from '../errors.js';
import type { ResolvedSettings } from './types.js';

/** What a check sees besides the value. */
export interface Context {
  /** Throw a SettingsError for `path`, naming the settings' source when it is a file. */
  fail(path: string, reason: string): never;
  /** The top-level keys resolved so far, in schema order (hosts read `port`, locations `stores`). */
  readonly settings: Partial<ResolvedSettings>;
}

/**
 * One setting: its default and its check, written once. When the key is left out, the
 * default goes through the same check, as if the user had written it.
 */
export interface Key<T> {
  /**
   * The value when the key is left out, as a user would write it; a function of the
   * context when it depends on keys resolved before. Without one the key resolves to
   * `undefined`, unless `required`.
   */
  default?: unknown;
  /** The check sees a left-out key (and fails with its own message). */
  required?: boolean;
  /** `null` also means "left out" (objects, lists and choices; a scalar must not be null). */
  nullMeansDefault?: boolean;
  /** The key exists only for these types (of store or location); for others it is unknown. */
  only?: readonly string[];
  /** The name in the resolved settings when it differs (`store` resolves into `stores`). */
  into?: string;
  /** The resolved value of what the user wrote, or `context.fail(path, reason)`. */
  check(value: unknown, path: string, context: Context): T;
}

/** Every key of a settings type, of every member of a union (`StoreSettings`). */
type AllKeys<Settings> = Settings extends unknown ? keyof Settings : never;

/**
 * An object of the settings: the keys a user may write (`Settings`), in the order
 * "known keys" lists them, and what they resolve into (`Resolved`).
 */
export interface Table<Settings, Resolved> {
  keys: { [K in AllKeys<Settings>]-?: Key<unknown> };
  /** The key, resolved first, whose value picks the keys that exist (`only`). */
  variant?: AllKeys<Settings> & string;
  /** Reason given when the value is not an object. @default 'must be an object' */
  notObject?: string;
  /** Checks across keys, after each key's own; returns the resolved object. */
  finish?(resolved: Record<string, unknown>, path: string, context: Context): Resolved;
}

/**
 * The context for one resolution; errors name `source` unless the settings came from
 * the defaults or from code.
 */
export function newContext(source: string): Context {
  const where = source === 'defaults' || source === 'configure()' ? '' : ` (in ${source})`;
  return {
    fail(path, reason) {
      throw new SettingsError(path, reason + where);
    },
    settings: {},
  };
}

/**
 * Check `value` against `table` and fill in defaults.
 *
 * @param path the key path of `value` in the settings, `''` at the top
 * @param resolved where the resolved keys go (the top level resolves into `context.settings`)
 * @returns the resolved object, of the shape the table's keys and `finish` make
 */
export function resolveObject<Settings, Resolved>(
  table: Table<Settings, Resolved>,
  value: unknown,
  path: string,
  context: Context,
  resolved: Record<string, unknown> = {},
): Resolved {
  if (!isPlainObject(value))
    context.fail(path || 'settings', table.notObject ?? 'must be an object');
  const keys = Object.entries(table.keys) as [string, Key<unknown>][];
  const at = (key: string) => (path ? `${path}.${key}` : key);
  const variant =
    table.variant === undefined
      ? undefined
      : resolveKey(table.keys[table.variant], value[table.variant], at(table.variant), context);
  const known = keys
    .filter(([, key]) => key.only === undefined || key.only.includes(variant as string))
    .map(([name]) => name);
  for (const name of Object.keys(value)) {
    if (!known.includes(name)) context.fail(at(name), unknownKeyReason(name, known));
  }
  for (const [name, key] of keys) {
    resolved[key.into ?? name] = resolveKey(key, value[name], at(name), context);
  }
  return (table.finish ? table.finish(resolved, path, context) : resolved) as Resolved;
}

function resolveKey(key: Key<unknown>, value: unknown, path: string, context: Context): unknown {
  const absent = value === undefined || (value === null && key.nullMeansDefault === true);
  if (!absent) return key.check(value, path, context);
  if (key.default === undefined) return key.required ? key.check(value, path, context) : undefined;
  const fallback = typeof key.default === 'function' ? key.default(context) : key.default;
  return key.check(fallback, path, context);
}

/** An object that is not `null` and not an array: what a settings object must be. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---------------------------------------------------------------------------
// Keys of the common kinds. `check` in their options adds a rule of the key's own and
// returns the reason when the value breaks it.

/**
 * A non-empty string.
 *
 * @example stringKey({ default: 'pushserver' })
 */
export function stringKey(options: {
  default?: string | ((context: Context) => string);
  check?: (value: string, context: Context) => string | undefined;
}): Key<string> {
  return {
    default: options.default,
    check(value: unknown, path: string, context: Context) {
      const text = asString(value, path, context);
      const problem = options.check?.(text, context);
      if (problem) context.fail(path, problem);
      return text;
    },
  };
}

/** `true` or `false`. */
export function booleanKey(options: { default: boolean }): Key<boolean> {
  return {
    default: options.default,
    check(value: unknown, path: string, context: Context) {
      if (typeof value !== 'boolean')
        context.fail(path, `must be true or false, got ${JSON.stringify(value)}`);
      return value;
    },
  };
}

/** A finite number from `min` to `max`. */
export function numberKey(options: { default: number; min: number; max?: number }): Key<number> {
  const { min, max = Number.POSITIVE_INFINITY } = options;
  return {
    default: options.default,
    check: (value, path, context) => asNumber(value, path, context, min, max),
  };
}

/**
 * A whole number from `min` to `max`.
 *
 * @example integerKey({ default: 8001, min: 0, max: 65535 })
 */
export function integerKey(options: { default: number; min: number; max?: number }): Key<number> {
  const { min, max = Number.MAX_SAFE_INTEGER } = options;
  return {
    default: options.default,
    check(value: unknown, path: string, context: Context) {
      const number = asNumber(value, path, context, min, max);
      if (!Number.isInteger(number)) context.fail(path, `is ${number}; it must be a whole number`);
      return number;
    },
  };
}

/**
 * One of `values`; `hint` ends the error. Without a default the key is required.
 *
 * @example choiceKey(['long', 'interval'], 'use "long" or "interval"', { default: 'long' })
 */
export function choiceKey<const Choice extends string>(
  values: readonly Choice[],
  hint: string,
  options: { default?: Choice } = {},
): Key<Choice> {
  return {
    default: options.default,
    required: options.default === undefined,
    nullMeansDefault: true,
    check(value: unknown, path: string, context: Context) {
      if (!values.includes(value as Choice))
        context.fail(path, `is ${JSON.stringify(value)}; ${hint}`);
      return value as Choice;
    },
  };
}

/** A nested object of `table`'s keys; left out, every key takes its default. */
export function objectKey<Settings, Resolved>(table: Table<Settings, Resolved>): Key<Resolved> {
  return {
    default: {},
    nullMeansDefault: true,
    check: (value, path, context) => resolveObject(table, value, path, context),
  };
}

/** `value` as a non-empty string, or fail. */
export function asString(value: unknown, path: string, context: Context): string {
  if (typeof value !== 'string' || value === '')
    context.fail(path, `must be a non-empty string, got ${JSON.stringify(value)}`);
  return value;
}

function asNumber(
  value: unknown,
  path: string,
  context: Context,
  min: number,
  max: number,
): number {
  if (typeof value !== 'number' || !Number.isFinite(value))
    context.fail(path, `must be a number, got ${JSON.stringify(value)}`);
  if (value < min || value > max) {
    const range =
      max === Number.POSITIVE_INFINITY ? `at least ${min}` : `between ${min} and ${max}`;
    context.fail(path, `is ${value}; it must be ${range}`);
  }
  return value;
}

// ---------------------------------------------------------------------------
// Did you mean: unknown keys are compared with the keys the table knows.

function unknownKeyReason(name: string, known: readonly string[]): string {
  const suggestion = closest(name, known);
  const hint = suggestion ? `; did you mean "${suggestion}"?` : `; known keys: ${known.join(', ')}`;
  return `is not a known setting${hint}`;
}

/** The known key nearest to `key` by edit distance, if it is plausibly a typo. */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}
