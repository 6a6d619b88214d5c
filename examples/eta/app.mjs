// The eta example: a page under a strict Content-Security-Policy (script-src 'self', no
// inline script at all), so the subscription is a JSON data block the client reads by
// itself (mode 'data'), and routes (../room.mjs) that publish to channel "lobby" with
// sendUpdate.
//
//   npx runpushserver &       # the daemon on 127.0.0.1:8001
//   node examples/eta/app.mjs # this app on 127.0.0.1:8000 (PORT to change)
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import express from 'express';
import { etaEngine } from 'pushserver/eta';
import pushserver from 'pushserver/express';
import { contentSecurityPolicy, listen, ROOM, roomRoutes } from '../room.mjs';

/**
 * Build the app.
 *
 * @param {{ jquery?: 3 | 4 | null }} options jQuery version on the page; null: none
 */
export function createApp({ jquery = null } = {}) {
  const app = express();
  const eta = new Eta({ views: join(dirname(fileURLToPath(import.meta.url)), 'views') });
  // Renders the views for Express, and broadcast()'s templates.
  app.engine('eta', etaEngine(eta));
  app.set('views', eta.config.views);
  app.set('view engine', 'eta');
  app.use(contentSecurityPolicy({ nonce: false }));
  // Serves /static/pushserver/updates.js and puts it.channelUrl, it.pushserverSubscribe
  // into every render; mode 'data' renders no inline script.
  app.use(pushserver({ mode: 'data' }));
  // POST /send and /clear publish with sendUpdate, POST /notes broadcasts note.eta; the
  // page's script, style, jQuery.
  app.use(roomRoutes({ jquery, noteTemplate: 'note' }));

  app.get('/', (_req, res) => res.render('index', { room: ROOM, jquery }));
  return app;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) listen(createApp(), 'eta');
