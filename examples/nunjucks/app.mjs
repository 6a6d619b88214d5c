// The nunjucks example: a page subscribed to channel "lobby" (with jQuery, the seed's
// way), and routes that publish to it with sendUpdate.
//
//   npx runpushserver &            # the daemon on 127.0.0.1:8001
//   node examples/nunjucks/app.mjs # this app on 127.0.0.1:8000 (PORT to change)
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import nunjucks from 'nunjucks';
import { sendUpdate } from 'pushserver';
import pushserver from 'pushserver/express';
import { install } from 'pushserver/nunjucks';
import { exampleAssets, listen, ROOM } from '../assets.mjs';

/**
 * Build the app.
 *
 * @param {{ jquery?: 3 | 4 | null }} options jQuery version on the page; null: none
 */
export function createApp({ jquery = 3 } = {}) {
  const app = express();
  const env = nunjucks.configure(join(dirname(fileURLToPath(import.meta.url)), 'views'), {
    autoescape: true,
    express: app,
  });
  // {% channel_url %}, {% pushserver_subscribe %}, the escapejs filter.
  install(env, { jquery: jquery !== null });
  // Serves /static/pushserver/updates.js.
  app.use(pushserver({ jquery: jquery !== null }));
  app.use(exampleAssets({ jquery }));

  app.get('/', (_req, res) => res.render('index.njk', { room: ROOM, jquery }));
  app.post('/send', express.urlencoded({ extended: false }), async (req, res) => {
    await sendUpdate(ROOM, { type: 'message', text: String(req.body.text ?? '') });
    res.sendStatus(204);
  });
  app.post('/clear', async (_req, res) => {
    await sendUpdate(ROOM, { type: 'clear' });
    res.sendStatus(204);
  });
  return app;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) listen(createApp(), 'nunjucks');
