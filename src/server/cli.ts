/**
 * `npx runpushserver [addrport] [-6|--ipv6] [--config FILE] [--quiet]`: the push
 * daemon's command line, in the style of Django's `runserver`.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { pathToFileURL } from 'node:url';
import { SettingsError } from '../errors.js';
import {
  hostPort,
  type PushServerSettings,
  type ResolvedLocation,
  type ResolvedSettings,
  readConfigFile,
  resolveSettings,
} from '../settings.js';
import { createPushServer, type RequestLogEntry } from './index.js';

/** A command line the daemon cannot run with; printed as one line, exit status 2. */
export class CommandLineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandLineError';
  }
}

/** The parsed command line. */
export interface CommandLine {
  /** From `addrport`: undefined keeps the settings' address. */
  address: string | undefined;
  /** From `addrport`: undefined keeps the settings' port. */
  port: number | undefined;
  ipv6: boolean;
  config: string | undefined;
  quiet: boolean;
  help: boolean;
}

const USAGE = `usage: runpushserver [addrport] [-6|--ipv6] [--config FILE] [--quiet]

Run the push daemon (Nchan's protocol) on 127.0.0.1:8001, or on addrport:
a port (8001), ADDR:PORT (0.0.0.0:8001) or [IPv6]:PORT ([::1]:8001).

  -6, --ipv6       listen on ::1 when addrport names no address
  --config FILE    settings file (default: PUSHSERVER_CONFIG, else pushserver.config.{js,mjs,cjs,json})
  -q, --quiet      no banner and no request log
  -h, --help       show this help
`;

// Options of later features; named here so the message can say so.
const NOT_YET: Record<string, string> = {
  '--allrequests': 'serving the app and the daemon on one port',
  '--forcehost': 'redirecting other hosts (it belongs with --allrequests)',
  '--workers': 'several worker processes',
};

/** Django's runserver address pattern: `port`, `ipv4:port`, `[ipv6]:port`, `name:port`. */
const ADDRPORT =
  /^(?:(?<addr>(?<ipv4>\d{1,3}(?:\.\d{1,3}){3})|\[(?<ipv6>[a-fA-F0-9:.]+)\]|(?<fqdn>[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*)):)?(?<port>\d+)$/;

/**
 * Parse the arguments of `runpushserver`.
 *
 * @param argv the arguments after the command name
 * @returns the options
 * @throws CommandLineError for an unknown option or a bad addrport
 * @example parseCommandLine(['0.0.0.0:9000', '--quiet']).port // 9000
 */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  const line: CommandLine = {
    address: undefined,
    port: undefined,
    ipv6: false,
    config: undefined,
    quiet: false,
    help: false,
  };
  let addrport: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [name, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
    if (name === '-6' || name === '--ipv6') line.ipv6 = true;
    else if (name === '-q' || name === '--quiet') line.quiet = true;
    else if (name === '-h' || name === '--help') line.help = true;
    else if (name === '--config') {
      const value = inline ?? argv[++i];
      if (!value)
        throw new CommandLineError('--config needs a file name: --config pushserver.config.js');
      line.config = value;
    } else if (name in NOT_YET) {
      throw new CommandLineError(`${name} (${NOT_YET[name]}) is not available in this version`);
    } else if (name.startsWith('-') && name !== '-') {
      throw new CommandLineError(`unknown option ${name}; see runpushserver --help`);
    } else if (addrport === undefined) {
      addrport = arg;
    } else {
      throw new CommandLineError(`unexpected argument "${arg}"; give at most one addrport`);
    }
  }
  if (addrport !== undefined) {
    const found = ADDRPORT.exec(addrport)?.groups;
    const port = Number(found?.port);
    if (
      !found ||
      port < 1 ||
      port > 65535 ||
      (found.ipv4 && !isIP(found.ipv4)) ||
      /^[\d.]+$/.test(found.fqdn ?? '') ||
      (found.ipv6 && isIP(found.ipv6) !== 6)
    ) {
      throw new CommandLineError(`"${addrport}" is not a valid port number or address:port pair`);
    }
    line.port = port;
    line.address = found.ipv4 ?? found.ipv6 ?? found.fqdn;
  }
  if (line.address === undefined && line.ipv6) line.address = '::1';
  return line;
}

/**
 * Run `runpushserver`: parse `argv`, start the daemon, log requests, stop cleanly
 * on SIGINT / SIGTERM (exit 0). A bad command line, bad settings or a port that
 * cannot be bound print one line on stderr and exit with status 2.
 *
 * @param argv the arguments after the command name
 * @returns once the daemon listens (or failed to start)
 * @example main(['8002', '--quiet']);
 */
export async function main(argv: readonly string[]): Promise<void> {
  let settings: ResolvedSettings;
  let line: CommandLine;
  try {
    line = parseCommandLine(argv);
    if (line.help) {
      process.stdout.write(USAGE);
      return;
    }
    settings = loadSettings(line);
  } catch (error) {
    return fail(error);
  }
  const out = (text: string) => {
    if (!line.quiet) process.stdout.write(`${text}\n`);
  };
  const push = createPushServer(settings, {
    log: line.quiet ? undefined : (entry) => out(logLine(entry)),
  });
  try {
    await push.listen(settings.port, settings.address);
  } catch (error) {
    fail(error, settings);
    // An opened store (a Redis connection) would keep the process alive.
    await push.close().catch(() => {});
    process.exit(2);
  }
  out(banner(settings));
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    // Waiting polls are answered at once; a stuck connection must not hold the exit.
    setTimeout(() => process.exit(0), 1500).unref();
    push.close().then(
      () => process.exit(0),
      () => process.exit(0),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

function loadSettings(line: CommandLine): ResolvedSettings {
  const env =
    line.config === undefined ? process.env : { ...process.env, PUSHSERVER_CONFIG: line.config };
  const file = readConfigFile(process.cwd(), env);
  const input: PushServerSettings = { ...file.settings };
  if (line.address !== undefined) input.address = line.address;
  if (line.port !== undefined) input.port = line.port;
  return resolveSettings(input, file.source);
}

function fail(error: unknown, settings?: ResolvedSettings): void {
  process.stderr.write(`Error: ${describeFailure(error, settings)}\n`);
  process.exitCode = 2;
}

function describeFailure(error: unknown, settings?: ResolvedSettings): string {
  if (error instanceof SettingsError || error instanceof CommandLineError) return error.message;
  const code = (error as NodeJS.ErrnoException).code;
  const where = settings ? hostPort(settings.address, settings.port) : '';
  // Django's wording for the common cases.
  if (code === 'EADDRINUSE') return `That port is already in use (${where}).`;
  if (code === 'EACCES') return `You don't have permission to access that port (${where}).`;
  if (code === 'EADDRNOTAVAIL') return `That IP address can't be assigned to (${where}).`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return `That host name cannot be resolved (${settings?.address}).`;
  return error instanceof Error ? error.message : String(error);
}

function banner(settings: ResolvedSettings): string {
  const { address, port } = settings;
  const listening = isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
  const lines = [
    bannerDate(new Date()),
    `pushserver version ${version()}, using settings from ${settings.source}`,
    `Node ${process.version}`,
    `Starting push server at http://${listening}/`,
  ];
  // The URLs as the app and browsers reach them (publisherHost / subscriberHost).
  for (const location of settings.locations) {
    const publisher = location.type === 'publisher';
    const host = publisher ? settings.publisherHost : settings.subscriberHost;
    const url = `${host.secure ? 'https' : 'http'}://${host.location}${displayPattern(location)}`;
    lines.push(`  ${publisher ? 'publisher ' : 'subscriber'}  ${url}`);
  }
  lines.push('Quit the server with CONTROL-C.');
  return lines.join('\n');
}

function displayPattern(location: ResolvedLocation): string {
  try {
    return location.pattern.reverse('CHANNEL').replace('CHANNEL', '<channel_id>');
  } catch {
    return location.pattern.source;
  }
}

function version(): string {
  try {
    return JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

/**
 * One request as the daemon logs it, runserver-style:
 * `[28/Nov/2026 04:22:30] "GET /subscriber/a" 200 0.4 ms (waited 3.2 s)`.
 *
 * @example logLine({ method: 'POST', url: '/publisher/a', status: 202, duration: 1.25, waited: undefined })
 */
export function logLine(entry: RequestLogEntry): string {
  const waited = entry.waited === undefined ? '' : ` (waited ${formatDuration(entry.waited)})`;
  return `[${currentLogDate()}] "${entry.method} ${entry.url}" ${entry.status || '-'} ${formatDuration(entry.duration)}${waited}`;
}

let logSecond = -1;
let logDateText = '';

/** The log line's date, formatted once per second (a busy daemon logs thousands a second). */
function currentLogDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== logSecond) {
    logSecond = second;
    logDateText = logDate(new Date(now));
  }
  return logDateText;
}

function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function bannerDate(date: Date): string {
  const month = date.toLocaleString('en-US', { month: 'long' });
  return `${month} ${date.getDate()}, ${date.getFullYear()} - ${logDate(date).slice(-8)}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function logDate(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(date.getDate())}/${MONTHS[date.getMonth()]}/${date.getFullYear()} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

// `node src/server/cli.ts` (through tsx) or `node dist/server/cli.js` runs the command too.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2));
}
