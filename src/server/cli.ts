/**
 * `npx runpushserver [addrport] [-6|--ipv6] [--config FILE] [--quiet]
 * [--allrequests (--app FILE | --upstream URL) [--forcehost HOST]]`: the push
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
import { ALLREQUESTS_PORT, createAllRequestsServer, loadApp } from './allrequests.js';
import { createPushServer, logRequest, type PushServer, type RequestLogEntry } from './index.js';

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
  /** `--allrequests`: one port for the daemon and the app (`app` or `upstream`). */
  allrequests: boolean;
  /** `--app FILE`: the app module, served in this process. */
  app: string | undefined;
  /** `--upstream URL`: where the app runs, proxied. */
  upstream: string | undefined;
  /** `--forcehost HOST`: other hosts are redirected to this one. */
  forcehost: string | undefined;
}

const USAGE = `usage: runpushserver [addrport] [-6|--ipv6] [--config FILE] [--quiet]
                     [--allrequests (--app FILE | --upstream URL) [--forcehost HOST]]

Run the push daemon (Nchan's protocol) on 127.0.0.1:8001, or on addrport:
a port (8001), ADDR:PORT (0.0.0.0:8001) or [IPv6]:PORT ([::1]:8001).

  -6, --ipv6       listen on ::1 when addrport names no address
  --config FILE    settings file (default: PUSHSERVER_CONFIG, else pushserver.config.{js,mjs,cjs,json})
  -q, --quiet      no banner and no request log
  -h, --help       show this help
  --allrequests    one port (default 8000) for the daemon and the app: push locations
                   go to the daemon, every other request to the app
  --app FILE       with --allrequests: the app module (an Express app or (req, res) handler)
  --upstream URL   with --allrequests: the app running elsewhere, proxied
  --forcehost HOST with --allrequests: redirect requests for other hosts to HOST
`;

// Options of later features; named here so the message can say so.
const NOT_YET: Record<string, string> = {
  '--workers': 'several worker processes',
};

const WITH_VALUE: Record<string, 'config' | 'app' | 'upstream' | 'forcehost'> = {
  '--config': 'config',
  '--app': 'app',
  '--upstream': 'upstream',
  '--forcehost': 'forcehost',
};
const EXAMPLE_VALUE = {
  config: 'pushserver.config.js',
  app: './app.js',
  upstream: 'http://127.0.0.1:3000',
  forcehost: 'www.example.com',
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
    allrequests: false,
    app: undefined,
    upstream: undefined,
    forcehost: undefined,
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
    else if (name === '--allrequests') line.allrequests = true;
    else if (name in WITH_VALUE) {
      const key = WITH_VALUE[name];
      const value = inline ?? argv[++i];
      if (!value)
        throw new CommandLineError(`${name} needs a value: ${name} ${EXAMPLE_VALUE[key]}`);
      line[key] = value;
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
  checkAllRequests(line);
  return line;
}

function checkAllRequests(line: CommandLine): void {
  if (!line.allrequests) {
    for (const name of ['forcehost', 'app', 'upstream'] as const) {
      if (line[name] !== undefined) {
        throw new CommandLineError(
          `--${name} only works with --allrequests (one port for the daemon and the app): runpushserver --allrequests --app ./app.js --forcehost HOST`,
        );
      }
    }
    return;
  }
  if (line.app === undefined && line.upstream === undefined) {
    throw new CommandLineError(
      '--allrequests needs the app: --app ./app.js (an Express app or (req, res) handler) or --upstream http://127.0.0.1:3000',
    );
  }
  if (line.app !== undefined && line.upstream !== undefined) {
    throw new CommandLineError('give either --app or --upstream, not both');
  }
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
  const log = line.quiet ? undefined : (entry: RequestLogEntry) => out(logLine(entry));
  const push = createPushServer(settings, { log: line.allrequests ? undefined : log });
  try {
    if (line.allrequests) await listenForAllRequests(line, push, log);
    else await push.listen(settings.port, settings.address);
  } catch (error) {
    fail(error, settings);
    // An opened store (a Redis connection) would keep the process alive.
    await push.close().catch(() => {});
    process.exit(2);
  }
  out(banner(settings, line));
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

/** `--allrequests`: the daemon's server routes push locations to it and the rest to the app. */
async function listenForAllRequests(
  line: CommandLine,
  push: PushServer,
  log: ((entry: RequestLogEntry) => void) | undefined,
): Promise<void> {
  const app = line.app === undefined ? undefined : await loadApp(line.app);
  const one = createAllRequestsServer({
    push,
    app,
    upstream: line.upstream,
    forcehost: line.forcehost,
  });
  await one.listen(push.settings.port, push.settings.address);
  // One log line for every request, the app's too.
  if (log) one.server?.prependListener('request', (req, res) => logRequest(req, res, log));
}

function loadSettings(line: CommandLine): ResolvedSettings {
  const env =
    line.config === undefined ? process.env : { ...process.env, PUSHSERVER_CONFIG: line.config };
  const file = readConfigFile(process.cwd(), env);
  const input: PushServerSettings = { ...file.settings };
  if (line.address !== undefined) input.address = line.address;
  if (line.port !== undefined) input.port = line.port;
  // Browsers reach the app and the daemon on one port: the app's usual 8000.
  else if (line.allrequests && input.port === undefined) input.port = ALLREQUESTS_PORT;
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

function banner(settings: ResolvedSettings, line: CommandLine): string {
  const { address, port } = settings;
  const listening = isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
  const lines = [
    bannerDate(new Date()),
    `pushserver version ${version()}, using settings from ${settings.source}`,
    `Node ${process.version}`,
    `Starting push server at http://${listening}/`,
  ];
  // The URLs as the app and browsers reach them (publisherHost / subscriberHost).
  const rows = settings.locations.map((location): [string, string] => {
    const publisher = location.type === 'publisher';
    const host = publisher ? settings.publisherHost : settings.subscriberHost;
    const url = `${host.secure ? 'https' : 'http'}://${host.location}${displayPattern(location)}`;
    return [location.type, url];
  });
  if (line.allrequests) {
    rows.push([
      'everything else',
      line.app ? `the app from ${line.app}` : `the app at ${line.upstream}`,
    ]);
    if (line.forcehost) rows.push(['other hosts', `redirected to ${line.forcehost}`]);
  }
  const width = Math.max(...rows.map(([label]) => label.length));
  for (const [label, text] of rows) lines.push(`  ${label.padEnd(width)}  ${text}`);
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
