import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveSettings } from '../../../src/settings/index.js';
import { type SubscriptionChannels, subscriptionSnippet } from '../../../src/snippet.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** How the page loads the client: with jQuery 3.7, jQuery 4, or none. */
export type ClientKind = 'jquery3' | 'jquery4' | 'plain';
export const CLIENT_KINDS: ClientKind[] = ['jquery3', 'jquery4', 'plain'];

/** What the page renders to subscribe: an inline call, or the strict-CSP data block. */
export type BootstrapMode = 'inline' | 'data';

export interface PageSpec {
  client: ClientKind;
  mode?: BootstrapMode;
  /** `{name: channelId}` to subscribe to, on the daemon at `daemonPort`, or `{name: {url}}`. */
  channels: SubscriptionChannels;
  daemonPort: number;
  /** Send `Content-Security-Policy: script-src 'self'`. */
  strictCsp?: boolean;
  /** With `strictCsp`: allow inline scripts carrying this nonce, and render it on the tags. */
  nonce?: string;
  /**
   * With `strictCsp`: add `default-src 'self'`, which leaves the daemon (another origin)
   * out of `connect-src`.
   */
  defaultSrcSelf?: boolean;
  /** Set this cookie (`name=value`) on the page's response. */
  cookie?: string;
  /** Hold back the page's processor script (probe.js) this long. */
  probeDelayMs?: number;
  /**
   * `updates.configure(options)` before the page subscribes (e.g. `{transport: 'longpoll'}`):
   * the client is loaded first and configured by a script of the page's origin (so a
   * strict CSP allows it); the snippet's own copy of the client then finds it loaded.
   */
  options?: Record<string, unknown>;
}

/** A plain node:http server for test pages, the client and jQuery, on a free port. */
export interface PageServer {
  origin: string;
  /** URL of a page built from `spec`. */
  url(spec: PageSpec): string;
  /** Paths requested so far, in order. */
  requests: string[];
  close(): Promise<void>;
}

const FILES: Record<string, string> = {
  '/static/pushserver/updates.js': 'static/pushserver/updates.js',
  '/static/jquery3.js': 'node_modules/jquery/dist/jquery.min.js',
  '/static/jquery4.js': 'node_modules/jquery4/dist/jquery.min.js',
  '/static/probe.js': 'test/e2e/fixtures/probe.js',
  '/static/configure.js': 'test/e2e/fixtures/configure.js',
};

/**
 * Start a page server. Pages are described in the query string, so one server
 * serves every variant a test opens.
 *
 * @example const pages = await startPageServer(); await page.goto(pages.url({client: 'plain', channels}));
 */
export async function startPageServer(): Promise<PageServer> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? '');
    try {
      route(req, res);
    } catch (error) {
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end(String(error));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    origin,
    requests,
    url: (spec) => `${origin}/page?spec=${encodeURIComponent(JSON.stringify(spec))}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function route(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://page.test');
  const file = FILES[url.pathname];
  if (file) {
    const send = () => {
      res.writeHead(200, {
        'Content-Type': 'text/javascript; charset=utf-8',
        'Cache-Control': 'no-store',
      });
      res.end(readFileSync(join(ROOT, file)));
    };
    // A slow script on purpose: the scenario, not synchronisation.
    setTimeout(send, Number(url.searchParams.get('delay') ?? 0));
    return;
  }
  if (url.pathname === '/page') {
    const spec = JSON.parse(url.searchParams.get('spec') ?? '{}') as PageSpec;
    const headers: Record<string, string> = { 'Content-Type': 'text/html; charset=utf-8' };
    if (spec.strictCsp) {
      const nonce = spec.nonce ? ` 'nonce-${spec.nonce}'` : '';
      const defaultSrc = spec.defaultSrcSelf ? "default-src 'self'; " : '';
      headers['Content-Security-Policy'] = `${defaultSrc}script-src 'self'${nonce}`;
    }
    if (spec.cookie) headers['Set-Cookie'] = `${spec.cookie}; Path=/; SameSite=Lax`;
    res.writeHead(200, headers).end(renderPage(spec));
    return;
  }
  if (url.pathname === '/slow') {
    // The page's own slow request, for side-effect checks.
    setTimeout(() => res.writeHead(200, { 'Content-Type': 'text/plain' }).end('done'), 500);
    return;
  }
  if (url.pathname === '/blank') {
    // The client alone, subscribed to nothing.
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(
      '<!doctype html><title>blank</title><script src="/static/pushserver/updates.js"></script>',
    );
    return;
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
}

/** The page, with the subscription rendered by the real snippet builder the helpers use. */
function renderPage(spec: PageSpec): string {
  const jquery =
    spec.client === 'plain' ? '' : `<script src="/static/${spec.client}.js"></script>\n`;
  const snippet = subscriptionSnippet(spec.channels, {
    mode: spec.mode ?? 'inline',
    nonce: spec.nonce,
    jquery: spec.client !== 'plain',
    settings: resolveSettings({ port: spec.daemonPort }, 'e2e page'),
  });
  const configure = spec.options
    ? '<script src="/static/pushserver/updates.js"></script>\n' +
      `<script src="/static/configure.js?options=${encodeURIComponent(JSON.stringify(spec.options))}"></script>\n`
    : '';
  return `<!doctype html>
<html>
<head><meta charset="utf-8"><title>pushserver e2e page</title></head>
<body>
<h1>updates</h1>
<ol id="updates"></ol>
${configure}${jquery}${snippet}
<script src="/static/probe.js?delay=${spec.probeDelayMs ?? 0}" data-channel="main"></script>
</body>
</html>
`;
}
