import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Eta } from 'eta';
import express from 'express';
import Handlebars from 'handlebars';
import nunjucks from 'nunjucks';
import { etaEngine } from '../../src/eta/index.js';
import pushserver, {
  CLIENT_DIRECTORY,
  pushserver as named,
  type PushserverOptions,
  pushserverLocals,
} from '../../src/express/index.js';
import { registerHelpers } from '../../src/handlebars/index.js';
import { install } from '../../src/nunjucks/index.js';
import { resolveSettings } from '../../src/settings/index.js';
import type { TemplateHelperOptions } from '../../src/snippet.js';
import { listen, renderedChannel, runPage } from '../fixtures/templates/page.js';

const REPO = join(import.meta.dirname, '..', '..');

/** A raw GET, so `..` and odd escapes reach the server exactly as written. */
function rawRequest(
  base: string,
  path: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function fixtureClient(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pushserver-client-'));
  writeFileSync(join(dir, 'updates.js'), '// client fixture\n');
  writeFileSync(join(dir, 'updates.js.map'), '{"version":3}');
  writeFileSync(join(dir, 'secret.txt'), 'secret');
  writeFileSync(join(dir, '.hidden.js'), 'hidden');
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'sub', 'x.js'), 'nested');
  // A fixed mtime, so Last-Modified is known exactly.
  utimesSync(
    join(dir, 'updates.js'),
    new Date('2026-01-02T03:04:05Z'),
    new Date('2026-01-02T03:04:05Z'),
  );
  return dir;
}

describe('serving the client', async () => {
  const dir = fixtureClient();
  const app = express();
  app.use(pushserver({ clientDirectory: dir }));
  app.get('/static/other.js', (_req, res) => {
    res.send('app route');
  });
  const server = await listen(app);
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('GET updates.js: body, JavaScript content type, ETag, Last-Modified, cache headers', async () => {
    const res = await rawRequest(server.base, '/static/pushserver/updates.js');
    assert.equal(res.status, 200);
    assert.equal(res.body, '// client fixture\n');
    assert.equal(res.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(res.headers['content-length'], '18');
    assert.match(String(res.headers.etag), /^"12-[A-Za-z0-9_-]{27}"$/);
    assert.equal(res.headers['last-modified'], 'Fri, 02 Jan 2026 03:04:05 GMT');
    assert.equal(res.headers['cache-control'], 'public, max-age=0');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
  });

  test('conditional GETs answer 304 without a body; a changed file gets a new ETag', async () => {
    const first = await rawRequest(server.base, '/static/pushserver/updates.js');
    const etag = String(first.headers.etag);
    const byTag = await rawRequest(server.base, '/static/pushserver/updates.js', {
      headers: { 'If-None-Match': etag },
    });
    assert.equal(byTag.status, 304);
    assert.equal(byTag.body, '');
    assert.equal(byTag.headers.etag, etag);
    const byDate = await rawRequest(server.base, '/static/pushserver/updates.js', {
      headers: { 'If-Modified-Since': 'Fri, 02 Jan 2026 03:04:05 GMT' },
    });
    assert.equal(byDate.status, 304);
    const stale = await rawRequest(server.base, '/static/pushserver/updates.js', {
      headers: { 'If-None-Match': '"other"' },
    });
    assert.equal(stale.status, 200);

    writeFileSync(join(dir, 'updates.js'), '// client fixture, version 2\n');
    const changed = await rawRequest(server.base, '/static/pushserver/updates.js', {
      headers: { 'If-None-Match': etag },
    });
    assert.equal(changed.status, 200);
    assert.equal(changed.body, '// client fixture, version 2\n');
    assert.notEqual(changed.headers.etag, etag);
    writeFileSync(join(dir, 'updates.js'), '// client fixture\n');
  });

  test('HEAD has the headers and no body; other methods get 405', async () => {
    const head = await rawRequest(server.base, '/static/pushserver/updates.js', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal(head.headers['content-type'], 'text/javascript; charset=utf-8');
    const post = await rawRequest(server.base, '/static/pushserver/updates.js', { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
  });

  test('a source map is served as JSON', async () => {
    const res = await rawRequest(server.base, '/static/pushserver/updates.js.map');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
  });

  const notFound = [
    '/static/pushserver/',
    '/static/pushserver/nope.js',
    '/static/pushserver/secret.txt',
    '/static/pushserver/.hidden.js',
    '/static/pushserver/sub/x.js',
    '/static/pushserver/updates.js/',
    '/static/pushserver/UPDATES.JS',
    '/static/pushserver/updates%2Ejs',
    '/static/pushserver/../../package.json',
    '/static/pushserver/../updates.js',
    '/static/pushserver/%2e%2e/%2e%2e/package.json',
    '/static/pushserver/..%2F..%2Fpackage.json',
    '/static/pushserver/..%5C..%5Cpackage.json',
    '/static/pushserver/updates.js%00',
    '/static/pushserver/updates.js?x=1/../../package.json'.replace('?', '%3F'),
  ];
  for (const path of notFound) {
    test(`404 for ${path}`, async () => {
      const res = await rawRequest(server.base, path);
      assert.equal(res.status, 404);
      assert.equal(res.body, 'Not Found\n');
      assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
    });
  }

  test('a query string does not change the file', async () => {
    const res = await rawRequest(server.base, '/static/pushserver/updates.js?v=1.2');
    assert.equal(res.status, 200);
    assert.equal(res.body, '// client fixture\n');
  });

  test('paths outside the prefix reach the app', async () => {
    const res = await rawRequest(server.base, '/static/other.js');
    assert.equal(res.body, 'app route');
    assert.equal((await rawRequest(server.base, '/static/pushserver')).status, 404);
  });
});

describe('the package client', async () => {
  const app = express();
  app.use(named());
  const server = await listen(app);
  after(server.close);

  test('is served from the package static/pushserver/ folder, found from the module file', async () => {
    assert.equal(CLIENT_DIRECTORY, join(REPO, 'static', 'pushserver/'));
    const file = join(REPO, 'static', 'pushserver', 'updates.js');
    const res = await rawRequest(server.base, '/static/pushserver/updates.js');
    if (existsSync(file)) {
      assert.equal(res.status, 200);
      assert.equal(res.body, readFileSync(file, 'utf8'));
      assert.equal(res.headers['content-type'], 'text/javascript; charset=utf-8');
    } else {
      assert.equal(res.status, 404);
    }
  });

  test('the minified client and its source map are served; the types are not', async () => {
    const min = await rawRequest(server.base, '/static/pushserver/updates.min.js');
    assert.equal(min.status, 200);
    assert.equal(min.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.match(min.body, /\/\/# sourceMappingURL=updates\.min\.js\.map\n$/);
    const map = await rawRequest(server.base, '/static/pushserver/updates.min.js.map');
    assert.equal(map.status, 200);
    assert.equal(map.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(JSON.parse(map.body).version, 3);
    assert.equal((await rawRequest(server.base, '/static/pushserver/updates.d.ts')).status, 404);
  });
});

describe('options', async () => {
  const dir = fixtureClient();
  const app = express();
  app.use('/mounted', pushserver({ clientDirectory: dir, prefix: 'assets/push', maxAge: 3600 }));
  const other = express();
  other.use(pushserver({ serveClient: false, src: 'https://cdn.example.com/updates.js' }));
  other.get('/page', (_req, res) => {
    res.type('html').send(res.locals.pushserverSubscribe({ a: 'b' }));
  });
  const server = await listen(app);
  const otherServer = await listen(other);
  after(async () => {
    await server.close();
    await otherServer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('prefix (normalised) and maxAge; mounted apps see paths relative to the mount', async () => {
    const res = await rawRequest(server.base, '/mounted/assets/push/updates.js');
    assert.equal(res.status, 200);
    assert.equal(res.headers['cache-control'], 'public, max-age=3600');
    assert.equal((await rawRequest(server.base, '/mounted/assets/push/x.js')).status, 404);
  });

  test('serveClient: false leaves the path to the app; src goes into the snippet', async () => {
    assert.equal((await rawRequest(otherServer.base, '/static/pushserver/updates.js')).status, 404);
    const page = await rawRequest(otherServer.base, '/page');
    assert.match(page.body, /^<script src="https:\/\/cdn\.example\.com\/updates\.js"><\/script>\n/);
  });

  test('the snippet src follows the prefix', () => {
    const html = pushserverLocals({ src: '/assets/push/updates.js' }).pushserverSubscribe({
      a: 'b',
    });
    assert.match(html, /^<script src="\/assets\/push\/updates\.js">/);
  });
});

test('pushserver/express exports the middleware (default and named), the locals, passthrough, authorize and expressRenderer', async () => {
  const module = await import('../../src/express/index.js');
  assert.deepEqual(Object.keys(module).sort(), [
    'CLIENT_DIRECTORY',
    'authorize',
    'default',
    'expressRenderer',
    'passthrough',
    'pushserver',
    'pushserverLocals',
  ]);
  assert.equal(module.default, module.pushserver);
});

describe('locals, and nothing else', async () => {
  const app = express();
  const stackBefore = app.router.stack.length;
  const ViewBefore = app.get('view');
  app.use(pushserver());
  const stackAfter = app.router.stack.length;
  let seen: { keys: string[]; body: unknown; appKeys: string[] } | undefined;
  app.use((req, res, next) => {
    seen = { keys: Object.keys(res.locals), body: req.body, appKeys: Object.keys(req.app.locals) };
    next();
  });
  app.post('/echo', (_req, res) => {
    res.send('ok');
  });
  // A minimal engine (page.fn is empty) that calls the locals the way eta, ejs or pug do.
  app.engine('fn', (_path, data, callback) => {
    const it = data as unknown as {
      channelUrl(id: string): string;
      escapejs(v: string): string;
      pushserverSubscribe(c: object): string;
      channel: string;
    };
    callback(
      null,
      `${it.channelUrl(it.channel)}|${it.escapejs('-')}|${it.pushserverSubscribe({ main: it.channel })}`,
    );
  });
  app.set('views', join(import.meta.dirname, '..', 'fixtures', 'templates'));
  app.get('/page', (req, res) => {
    res.locals.cspNonce = 'n1';
    res.render('page.fn', { channel: req.query.channel });
  });
  const server = await listen(app);
  after(server.close);

  test('res.locals gains exactly channelUrl, escapejs, pushserverSubscribe, pushserverStreamFrom and pushserverOptions; no body parser', async () => {
    const res = await rawRequest(server.base, '/echo', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
    });
    assert.equal(res.body, 'ok');
    const helpers = [
      'channelUrl',
      'escapejs',
      'pushserverSubscribe',
      'pushserverStreamFrom',
      'pushserverOptions',
    ];
    assert.deepEqual(seen?.keys, helpers);
    assert.equal(seen?.body, undefined);
    assert.deepEqual(seen?.appKeys, ['settings', ...helpers]);
    assert.equal(stackAfter, stackBefore + 1);
    assert.equal(app.get('view'), ViewBefore);
  });

  test('an engine calling the locals gets the URL, the escaping and the snippet with the nonce', async () => {
    const res = await rawRequest(server.base, `/page?channel=${encodeURIComponent("it's")}`);
    assert.equal(res.status, 200, res.body);
    const url = 'http://127.0.0.1:8001/subscriber/it%27s';
    assert.equal(
      res.body,
      `${url}|\\u002D|` +
        '<script src="/static/pushserver/updates.js" nonce="n1"></script>\n' +
        `<script nonce="n1">pushserver.updates.subscribe({"main":${JSON.stringify(renderedChannel(url))}});</script>`,
    );
    assert.deepEqual(runPage(res.body.split('|')[2]).subscribed, [{ main: renderedChannel(url) }]);
  });

  test('app.render outside a request sees the locals after the first request', async () => {
    const html = await new Promise<string>((resolve, reject) =>
      app.render('page.fn', { channel: 'x', cspNonce: 'n2' }, (error, out) =>
        error ? reject(error) : resolve(out as string),
      ),
    );
    assert.match(
      html,
      /^http:\/\/127\.0\.0\.1:8001\/subscriber\/x\|\\u002D\|<script src="[^"]+" nonce="n2">/,
    );
  });

  test('a bad id names the helper', () => {
    const locals = pushserverLocals();
    assert.throws(() => locals.channelUrl(''), {
      message: 'channelUrl(): the channel id is an empty string',
    });
    assert.throws(() => locals.pushserverSubscribe({ a: 5 as never }), {
      message: 'pushserverSubscribe() channel "a": the channel id must be a string, got number 5',
    });
  });
});

describe('snippet options: the middleware gives them to every engine, the engine overrides', async () => {
  const views = mkdtempSync(join(tmpdir(), 'pushserver-views-'));
  after(() => rmSync(views, { recursive: true, force: true }));
  writeFileSync(join(views, 'tag.njk'), '{% channel_url "x" %}|{% pushserver_subscribe a="x" %}');
  writeFileSync(
    join(views, 'global.njk'),
    '{{ channelUrl("x") }}|{{ pushserverSubscribe({a: "x"}) }}',
  );
  writeFileSync(join(views, 'page.hbs'), '{{channelUrl "x"}}|{{{pushserverSubscribe a="x"}}}');
  writeFileSync(
    join(views, 'page.eta'),
    '<%= it.channelUrl("x") %>|<%~ it.pushserverSubscribe({ a: "x" }) %>',
  );

  /**
   * An app rendering `view` with the engine its extension names (nunjucks replaces the
   * app's view class, so one engine per app); `engine` goes to install or registerHelpers.
   */
  async function render(
    view: string,
    middleware: PushserverOptions,
    engine: TemplateHelperOptions = {},
  ): Promise<string> {
    const app = express();
    app.use(pushserver(middleware));
    if (view.endsWith('.njk')) {
      install(new nunjucks.Environment(new nunjucks.FileSystemLoader(views)), engine).express(app);
    } else if (view.endsWith('.hbs')) {
      const handlebars = registerHelpers(Handlebars.create(), engine);
      app.engine('hbs', (path, data, callback) => {
        callback(null, handlebars.compile(readFileSync(path, 'utf8'))(data));
      });
    } else {
      app.engine('eta', etaEngine(new Eta({ views })));
    }
    app.set('views', views);
    app.get('/:view', (req, res) => res.render(req.params.view));
    const server = await listen(app);
    try {
      const res = await rawRequest(server.base, `/${view}`);
      assert.equal(res.status, 200, res.body);
      return res.body;
    } finally {
      await server.close();
    }
  }

  const settings = resolveSettings({ port: 9999 }, 'express test');
  const url9999 = 'http://127.0.0.1:9999/subscriber/x';
  const url8001 = 'http://127.0.0.1:8001/subscriber/x';
  /** The rendered `x`, written out: its URL and its place in `/multi/` on `port`. */
  const multiplexed = (port: number) =>
    `{"url":"http://127.0.0.1:${port}/subscriber/x","multiplex":{"prefix":"http://127.0.0.1:${port}/multi/","suffix":"","delimiter":",","id":"x"}}`;

  for (const view of ['tag.njk', 'global.njk', 'page.hbs', 'page.eta']) {
    test(`${view}: mode, src, multiplex and settings given to pushserver() reach the helpers`, async () => {
      assert.equal(
        await render(view, { mode: 'data', src: '/js/push.js', multiplex: false, settings }),
        `${url9999}|<script type="application/json" data-pushserver-channels>{"a":"${url9999}"}</script>\n` +
          '<script src="/js/push.js"></script>',
      );
    });
  }

  for (const view of ['tag.njk', 'global.njk', 'page.hbs']) {
    test(`${view}: install / registerHelpers options win over the middleware's, key by key`, async () => {
      assert.equal(
        await render(
          view,
          { mode: 'data', jquery: true, src: '/js/push.js', multiplex: false, settings },
          { mode: 'inline', settings: undefined, src: '/js/own.js', multiplex: true },
        ),
        `${url9999}|<script src="/js/own.js"></script>\n` +
          `<script>$.updates.subscribe({"a":${multiplexed(9999)}});</script>`,
      );
    });
  }

  test('without options every engine renders the call that needs no jQuery', async () => {
    for (const view of ['tag.njk', 'global.njk', 'page.hbs', 'page.eta']) {
      assert.equal(
        await render(view, {}),
        `${url8001}|<script src="/static/pushserver/updates.js"></script>\n` +
          `<script>pushserver.updates.subscribe({"a":${multiplexed(8001)}});</script>`,
        view,
      );
    }
  });
});
