/**
 * `npx runpushserver [addrport] [-6|--ipv6] [--config FILE] [--quiet] [--workers N]
 * [--allrequests (--app FILE | --upstream URL) [--forcehost HOST]]`: the push
 * daemon's command line, in the style of Django's `runserver`. With `--workers N`
 * this file also runs in each worker process (see `workers.ts`);
 * `runpushserver nginx-config` prints the equivalent nginx config (`nginx-config.ts`).
 *
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { type AddressInfo, isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SettingsError } from '../../errors.js';
import {
  hostPort,
  type PushServerSettings,
  type ResolvedLocation,
  type ResolvedSettings,
  readConfigFile,
  resolveSettings,
  useDaemonSettings,
} from '../../settings/index.js';
import {
  CLOSE_GRACE_MS,
  createPushServer,
  type PushServer,
  type RequestLogEntry,
} from '../daemon.js';
import { STATUS_PATH } from '../locations/status.js';
import { describeNodeInternals, nodeInternals } from '../transport/node-internals.js';
import { ALLREQUESTS_PORT, createAllRequestsServer, loadApp } from './allrequests.js';
import { nginxConfig } from './nginx-config.js';
import {
  reportStartFailure,
  superviseWorkers,
  workerNumber,
  workerStatsGatherer,
} from './workers.js';

/** The longest a SIGINT / SIGTERM stop takes: the publishes in flight, then the stores. */
export const STOP_WITHIN_MS = CLOSE_GRACE_MS + 1000;

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
  /** `--workers N` (`auto`: one per CPU): worker processes serving the port. @default 1 */
  workers: number;
  /** `--no-raw-sockets` makes it false: node:http serves every request. @default true */
  rawSockets: boolean;
}

const USAGE = `usage: runpushserver [addrport] [-6|--ipv6] [--config FILE] [--quiet] [--workers N]
                     [--allrequests (--app FILE | --upstream URL) [--forcehost HOST]]
       runpushserver nginx-config [addrport] [--config FILE] [--out FILE]

Run the push daemon (Nchan's protocol) on 127.0.0.1:8001, or on addrport:
a port (8001), ADDR:PORT (0.0.0.0:8001) or [IPv6]:PORT ([::1]:8001). Port 0 takes
any free port; the banner names it.

  -6, --ipv6       listen on ::1 when addrport names no address
  --config FILE    settings file (default: PUSHSERVER_CONFIG, else pushserver.config.{js,mjs,cjs,json})
  -q, --quiet      no banner and no request log
  -h, --help       show this help
  --workers N      N worker processes on the port (auto: one per CPU); needs a Redis store
  --allrequests    one port (default 8000) for the daemon and the app: push locations
                   go to the daemon, every other request to the app
  --app FILE       with --allrequests: the app module (an Express app or (req, res) handler)
  --upstream URL   with --allrequests: the app running elsewhere, proxied
  --forcehost HOST with --allrequests: redirect requests for other hosts to HOST
  --no-raw-sockets node:http serves every request (no raw socket path; slower, for
                   comparison or a suspected raw-path problem)

nginx-config prints the nginx + Nchan config that serves what the daemon serves under
the same settings (--out FILE writes it there); what Nchan cannot do is said on stderr.
`;

const WITH_VALUE: Record<string, 'config' | 'app' | 'upstream' | 'forcehost' | 'workers'> = {
  '--config': 'config',
  '--app': 'app',
  '--upstream': 'upstream',
  '--forcehost': 'forcehost',
  '--workers': 'workers',
};
const EXAMPLE_VALUE = {
  config: 'pushserver.config.js',
  app: './app.js',
  upstream: 'http://127.0.0.1:3000',
  forcehost: 'www.example.com',
  workers: '2',
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
    workers: 1,
    rawSockets: true,
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
    else if (name === '--no-raw-sockets') line.rawSockets = false;
    else if (name in WITH_VALUE) {
      const key = WITH_VALUE[name];
      const value = inline ?? argv[++i];
      if (!value)
        throw new CommandLineError(`${name} needs a value: ${name} ${EXAMPLE_VALUE[key]}`);
      if (key === 'workers') line.workers = parseWorkers(value);
      else line[key] = value;
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
  if (line.allrequests && line.workers > 1) {
    throw new CommandLineError(
      '--workers does not combine with --allrequests (the app runs inside the daemon, for development); run the app on its own and the daemon with --workers behind nginx',
    );
  }
  return line;
}

/** A number of worker processes: a positive integer, or `auto` for one per CPU. */
function parseWorkers(value: string): number {
  if (value === 'auto') return availableParallelism();
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 256) {
    throw new CommandLineError(
      `--workers "${value}" is not a number of processes: --workers 2, or --workers auto for one per CPU`,
    );
  }
  return Number(value);
}

/**
 * With several workers every store a location uses must be a Redis store: a memory
 * store would be one per worker, and a message published to one worker would never
 * reach the subscribers waiting on another.
 */
function checkWorkerStores(settings: ResolvedSettings, workers: number): void {
  if (workers < 2) return;
  const used = new Set(settings.locations.map((location) => location.store));
  for (const name of used) {
    if (settings.stores[name].type === 'redis') continue;
    const path =
      Object.keys(settings.stores).length === 1 && name === 'default' ? 'store' : `store.${name}`;
    throw new CommandLineError(
      `--workers ${workers} needs store type redis: ${path} is ${settings.stores[name].type}, so each worker would keep its own channels; set ${path} to {type: 'redis', url: 'redis://127.0.0.1:6379'} (or run one process)`,
    );
  }
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
 * Run `runpushserver`: parse `argv`, start the daemon (or, with `--workers N`, N
 * worker processes that each run this again), log requests, stop cleanly on SIGINT /
 * SIGTERM (exit 0). A bad command line, bad settings or a port that cannot be bound
 * print one line on stderr and exit with status 2.
 *
 * @param argv the arguments after the command name
 * @returns once the daemon listens (or failed to start)
 * @example main(['8002', '--quiet']);
 */
export async function main(argv: readonly string[]): Promise<void> {
  if (argv[0] === 'nginx-config') return printNginxConfig(argv.slice(1));
  const worker = workerNumber();
  let settings: ResolvedSettings;
  let line: CommandLine;
  try {
    line = parseCommandLine(argv);
    if (line.help) {
      process.stdout.write(USAGE);
      return;
    }
    settings = loadSettings(line);
    checkWorkerStores(settings, line.workers);
  } catch (error) {
    if (worker !== undefined) await reportStartFailure(describeFailure(error));
    return fail(error);
  }
  if (line.workers > 1 && worker === undefined) return runWorkers(argv, line, settings);
  const out = (text: string) => {
    if (!line.quiet) process.stdout.write(`${text}\n`);
  };
  const log = line.quiet ? undefined : (entry: RequestLogEntry) => out(logLine(entry, worker));
  // The daemon's own lines (Redis outages, passthrough failures) name the worker too.
  const errorLog = (text: string) =>
    process.stderr.write(`${worker === undefined ? '' : `w${worker} `}${text}\n`);
  let push: PushServer | undefined;
  try {
    if (line.allrequests) push = await listenForAllRequests(line, settings, log);
    else {
      // Each worker answers the status location with its own counts, labelled.
      const statsLabels = worker === undefined ? undefined : { worker: String(worker) };
      // A worker's status location answers for all of them, through the primary.
      const gatherStats =
        worker === undefined
          ? undefined
          : workerStatsGatherer(() => ({
              labels: statsLabels ?? {},
              stats: (push as PushServer).stats(),
            }));
      push = createPushServer(settings, { log, statsLabels, errorLog, gatherStats });
      await push.listen(settings.port, settings.address);
    }
  } catch (error) {
    // An opened store (a Redis connection) would keep the process alive.
    const closed = push?.close().catch(() => {});
    // A worker's reason goes to the primary, which prints it once for all workers.
    if (worker !== undefined) await reportStartFailure(describeFailure(error, settings));
    fail(error, settings);
    await closed;
    process.exit(2);
  }
  // The primary prints the banner once every worker listens. With port 0 it names the
  // port the system gave.
  const bound = (push.server?.address() as AddressInfo | null)?.port ?? settings.port;
  if (worker === undefined) out(banner(settings, line, bound));
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    // close() answers the waiting subscribers at once and gives the publishes in flight
    // CLOSE_GRACE_MS; this bounds the rest (closing the stores).
    setTimeout(() => process.exit(0), STOP_WITHIN_MS).unref();
    push.close().then(
      () => process.exit(0),
      () => process.exit(0),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/**
 * `runpushserver nginx-config [addrport] [--config FILE] [--out FILE]`: print (or write)
 * the nginx + Nchan config for the settings, and each setting Nchan cannot reproduce on
 * stderr. Exit status 2 on a bad command line or bad settings.
 */
function printNginxConfig(argv: readonly string[]): void {
  let out: string | undefined;
  const rest: string[] = [];
  try {
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i];
      if (arg === '--out' || arg.startsWith('--out=')) {
        out = arg === '--out' ? argv[++i] : arg.slice('--out='.length);
        if (!out) throw new CommandLineError('--out needs a file: --out nginx.conf');
      } else rest.push(arg);
    }
    const line = parseCommandLine(rest);
    if (line.help) {
      process.stdout.write(USAGE);
      return;
    }
    if (line.allrequests || line.workers > 1) {
      throw new CommandLineError(
        'nginx-config takes addrport, --config and --out; nginx itself runs the workers and the app runs on its own',
      );
    }
    const config = nginxConfig(loadSettings(line));
    for (const note of config.notes) process.stderr.write(`nginx-config: ${note}\n`);
    if (out === undefined) process.stdout.write(config.text);
    else {
      writeFileSync(out, config.text);
      process.stderr.write(`nginx-config: wrote ${out}\n`);
    }
  } catch (error) {
    fail(error);
  }
}

/** `--workers N`: this process supervises N workers; each runs {@link main} with the same `argv`. */
async function runWorkers(
  argv: readonly string[],
  line: CommandLine,
  settings: ResolvedSettings,
): Promise<void> {
  const end = await superviseWorkers({
    workers: line.workers,
    exec: fileURLToPath(import.meta.url),
    args: argv,
    onListening: (pids, port) => {
      if (!line.quiet) process.stdout.write(`${banner(settings, line, port, pids)}\n`);
    },
  });
  if (end.error) process.stderr.write(`Error: ${end.error}\n`);
  process.exit(end.status);
}

/** `--allrequests`: the daemon's server routes push locations to it and the rest to the app. */
async function listenForAllRequests(
  line: CommandLine,
  settings: ResolvedSettings,
  log: ((entry: RequestLogEntry) => void) | undefined,
): Promise<PushServer> {
  // The app in this process builds its URLs and publishes with the daemon's settings.
  const { input, source } = settingsInput(line);
  if (line.app !== undefined) useDaemonSettings(input, source);
  const app = line.app === undefined ? undefined : await loadApp(line.app);
  const one = createAllRequestsServer({
    settings,
    app,
    upstream: line.upstream,
    forcehost: line.forcehost,
    // One log line for every request, the app's too.
    pushOptions: { log },
  });
  const bound = await one.listen(settings.port, settings.address);
  if (line.app !== undefined && bound.port !== settings.port) {
    useDaemonSettings({ ...input, port: bound.port }, source);
  }
  return one.push;
}

function loadSettings(line: CommandLine): ResolvedSettings {
  const { input, source } = settingsInput(line);
  return resolveSettings(input, source);
}

/** The settings as given: the config file, then the command line. */
function settingsInput(line: CommandLine): { input: PushServerSettings; source: string } {
  const named = line.config === undefined ? undefined : { path: line.config, from: '--config' };
  const file = readConfigFile(process.cwd(), process.env, named);
  const input: PushServerSettings = { ...file.settings };
  if (line.address !== undefined) input.address = line.address;
  if (line.port !== undefined) input.port = line.port;
  // Browsers reach the app and the daemon on one port: the app's usual 8000.
  else if (line.allrequests && input.port === undefined) input.port = ALLREQUESTS_PORT;
  if (!line.rawSockets) input.rawSockets = false;
  return { input, source: file.source };
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
  if (code === 'EADDRINUSE') {
    const other = settings ? hostPort(settings.address, settings.port + 1) : '127.0.0.1:8002';
    return `That port is already in use (${where}). Stop the process using it, or choose another port: npx runpushserver ${other} (0 takes any free port; the app needs the same port in its settings).`;
  }
  if (code === 'EACCES') return `You don't have permission to access that port (${where}).`;
  if (code === 'EADDRNOTAVAIL') return `That IP address can't be assigned to (${where}).`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return `That host name cannot be resolved (${settings?.address}).`;
  return error instanceof Error ? error.message : String(error);
}

function banner(
  settings: ResolvedSettings,
  line: CommandLine,
  port: number,
  pids: number[] = [],
): string {
  const { address } = settings;
  const listening = isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
  const lines = [
    bannerDate(new Date()),
    `pushserver version ${version()}, using settings from ${settings.source}`,
    `Node ${process.version}, ${describeTransport(settings.rawSockets, line.rawSockets)}`,
    `Starting push server at http://${listening}/`,
  ];
  // The URLs as the app and browsers reach them (publisherHost / subscriberHost).
  const rows = settings.locations.map((location): [string, string] => {
    const publisher = location.type === 'publisher';
    const host = publisher ? settings.publisherHost : settings.subscriberHost;
    // The daemon's own address (the default host) with the port it listens on.
    const where =
      host.location === hostPort(address, settings.port) ? hostPort(address, port) : host.location;
    const url = `${host.secure ? 'https' : 'http'}://${where}${displayPattern(location)}`;
    return [location.type, url];
  });
  const publisherWhere =
    settings.publisherHost.location === hostPort(address, settings.port)
      ? hostPort(address, port)
      : settings.publisherHost.location;
  rows.push([
    'status',
    `${settings.publisherHost.secure ? 'https' : 'http'}://${publisherWhere}${STATUS_PATH} (Nchan's stub status; ?format=prometheus for Prometheus; publisherAllow only)`,
  ]);
  if (pids.length > 0) {
    rows.push([
      'workers',
      `${pids.length} processes (pids ${pids.join(', ')}), channels shared through Redis`,
    ]);
  }
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

/** Which path requests take: the raw socket path (and the Node internals it uses) or node:http. */
function describeTransport(rawSockets: boolean, flag: boolean): string {
  if (!flag) return 'raw socket path off (--no-raw-sockets)';
  if (!rawSockets) return 'raw socket path off (rawSockets: false in the settings)';
  if (!nodeInternals.connectionHandOff) return `raw socket path off (${describeNodeInternals()})`;
  return `raw socket path on (${describeNodeInternals()})`;
}

function displayPattern(location: ResolvedLocation): string {
  const delimiter = location.splitDelimiter;
  // A multiplexed location takes several ids, as `/multi/<channel_id>,<channel_id>,...`.
  const ids =
    delimiter === null ? '<channel_id>' : `<channel_id>${delimiter}<channel_id>${delimiter}...`;
  try {
    return location.pattern.reverse('CHANNEL').replace('CHANNEL', ids);
  } catch {
    return location.pattern.source;
  }
}

function version(): string {
  try {
    return JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'))
      .version;
  } catch {
    return 'unknown';
  }
}

/**
 * One request as the daemon logs it, runserver-style:
 * `[28/Nov/2026 04:22:30] "GET /subscriber/a" 200 0.4 ms (waited 3.2 s) longpoll`; a
 * subscriber request ends with its transport (`eventsource`, `websocket`, or what it
 * asked for that its location does not serve); with `--workers`, the worker that
 * answered follows the date: `[...] w2 "GET ...`.
 *
 * @param entry the answered request
 * @param worker the worker's number, when there are several
 * @returns the line, without a newline
 * @example logLine({ method: 'POST', url: '/publisher/a', status: 202, duration: 1.25, waited: undefined })
 */
export function logLine(entry: RequestLogEntry, worker?: number): string {
  const waited = entry.waited === undefined ? '' : ` (waited ${formatDuration(entry.waited)})`;
  const who = worker === undefined ? '' : ` w${worker}`;
  const transport = entry.transport === undefined ? '' : ` ${entry.transport}`;
  return `[${currentLogDate()}]${who} "${entry.method} ${entry.url}" ${entry.status || '-'} ${formatDuration(entry.duration)}${waited}${transport}`;
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

// `node src/server/cli/main.ts` (through tsx) or `node dist/server/cli/main.js` runs the command too.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2));
}
