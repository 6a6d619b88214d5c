// What the three example apps share: the channel their page subscribes to, the routes
// that publish to it with sendUpdate, the page's own script and style, jQuery served
// from node_modules (a real app would use its own copy or a CDN), and the
// Content-Security-Policy with a fresh nonce per response.
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { broadcast, channelUrl, sendUpdate } from 'pushserver';
import { expressRenderer } from 'pushserver/express';

const require = createRequire(import.meta.url);
const JQUERY_PACKAGES = { 3: 'jquery', 4: 'jquery4' };

/** The channel every example page subscribes to, under the name "room". */
export const ROOM = 'lobby';

/** The channel of the notes: live HTML, rendered by the app's engine, applied by the client. */
export const NOTES = 'lobby-notes';

/**
 * A router with `POST /send` (publishes `{type: 'message', text}`), `POST /clear`
 * (publishes `{type: 'clear'}`), `POST /notes` (renders the new note with the app's
 * `noteTemplate` and broadcasts it: every open page appends it), `/example.js`,
 * `/example.css` and `/vendor/jquery.js`. Views get the notes so far as `notes`.
 *
 * @param {{ jquery?: 3 | 4 | null, noteTemplate: string }} options which jQuery
 * `/vendor/jquery.js` is (null: none); the partial that renders one note
 */
export function roomRoutes({ jquery = null, noteTemplate }) {
  const router = express.Router();
  const notes = [];
  router.use((_req, res, next) => {
    res.locals.notes = notes;
    next();
  });
  router.post('/notes', express.urlencoded({ extended: false }), async (req, res) => {
    const note = { id: notes.length + 1, text: String(req.body.text ?? '') };
    notes.push(note);
    // The partial that renders each note on the page, rendered once more (by the app's
    // view engine) for every page that is open: the client appends it to #notes.
    await broadcast(
      NOTES,
      { action: 'append', target: 'notes', template: noteTemplate, data: { note } },
      { render: expressRenderer(req.app) },
    );
    res.sendStatus(204);
  });
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
 * Middleware: a Content-Security-Policy on every response. Scripts come from this origin
 * (and, with `nonce`, inline scripts carrying this response's nonce, which the helpers put
 * on their tags from `res.locals.cspNonce`); requests go to this origin and to the push
 * daemon (`connect-src`, the origin of the channel URLs), everything else to this origin.
 *
 * @param {{ nonce?: boolean }} options `false`: no inline script at all (data mode)
 */
export function contentSecurityPolicy({ nonce = true } = {}) {
  return (_req, res, next) => {
    let scripts = "'self'";
    if (nonce) {
      // A fresh, unguessable value per response: a fixed one would let any injected
      // <script nonce="..."> run.
      res.locals.cspNonce = randomBytes(16).toString('base64');
      scripts += ` 'nonce-${res.locals.cspNonce}'`;
    }
    const daemon = new URL(channelUrl(ROOM)).origin;
    res.set(
      'Content-Security-Policy',
      `default-src 'self'; script-src ${scripts}; connect-src 'self' ${daemon}`,
    );
    next();
  };
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
