// What the three example apps share: the channel their page subscribes to, the routes
// that publish to it with sendUpdate, the page's own script and style, and jQuery served
// from node_modules (a real app would use its own copy or a CDN).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { sendUpdate } from 'pushserver';

const require = createRequire(import.meta.url);
const JQUERY_PACKAGES = { 3: 'jquery', 4: 'jquery4' };

/** The channel every example page subscribes to, under the name "room". */
export const ROOM = 'lobby';

/**
 * A router with `POST /send` (publishes `{type: 'message', text}`), `POST /clear`
 * (publishes `{type: 'clear'}`), `/example.js`, `/example.css` and `/vendor/jquery.js`.
 *
 * @param {{ jquery?: 3 | 4 | null }} options which jQuery `/vendor/jquery.js` is; null: none
 */
export function roomRoutes({ jquery = null } = {}) {
  const router = express.Router();
  router.post('/send', express.urlencoded({ extended: false }), async (req, res) => {
    await sendUpdate(ROOM, { type: 'message', text: String(req.body.text ?? '') });
    res.sendStatus(204);
  });
  router.post('/clear', async (_req, res) => {
    await sendUpdate(ROOM, { type: 'clear' });
    res.sendStatus(204);
  });
  router.use(express.static(join(dirname(fileURLToPath(import.meta.url)), 'public')));
  if (jquery) {
    const dist = dirname(require.resolve(JQUERY_PACKAGES[jquery]));
    router.get('/vendor/jquery.js', (_req, res) => res.sendFile(join(dist, 'jquery.min.js')));
  }
  return router;
}

/**
 * Start `app` on PORT (default 8000) when the example is run as a script.
 *
 * @param {import('express').Express} app
 * @param {string} name shown in the start line
 */
export function listen(app, name) {
  const port = Number(process.env.PORT ?? 8000);
  const server = app.listen(port, '127.0.0.1', () => {
    console.log(`${name} example: open http://127.0.0.1:${port}/ (CONTROL-C to stop)`);
  });
  server.on('error', (error) => {
    console.error(`${name} example: cannot listen on 127.0.0.1:${port}: ${error.message}`);
    process.exit(2);
  });
  return server;
}
