// The nunjucks example: a page subscribed to channel "lobby" (with jQuery, the seed's
// way) under a Content-Security-Policy with a nonce per response, and routes
// (../room.mjs) that publish to it with sendUpdate.
//
//   npx runpushserver &            # the daemon on 127.0.0.1:8001
//   node examples/nunjucks/app.mjs # this app on 127.0.0.1:8000 (PORT to change)
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import nunjucks from 'nunjucks';
import pushserver from 'pushserver/express';
import { install } from 'pushserver/nunjucks';
import { contentSecurityPolicy, listen, ROOM, roomRoutes } from '../room.mjs';

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
  // {% channel_url %}, {% pushserver_subscribe %}, {% stream_from %}, the escapejs
  // filter; broadcast() renders its templates with env.
  install(env);
  // Serves /static/pushserver/updates.js.
  app.use(pushserver());
  // res.locals.cspNonce, fresh per response, and the policy that allows it.
  app.use(contentSecurityPolicy());
  // POST /send and /clear publish with sendUpdate, POST /notes broadcasts note.njk; the
  // page's script, style, jQuery.
  app.use(roomRoutes({ jquery, noteTemplate: 'note.njk' }));

  app.get('/', (_req, res) => res.render('index.njk', { room: ROOM, jquery }));
  return app;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) listen(createApp(), 'nunjucks');
