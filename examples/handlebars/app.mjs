// The handlebars example: a page subscribed to channel "lobby" without jQuery
// (window.pushserver.updates) under a Content-Security-Policy with a nonce per response,
// and routes (../room.mjs) that publish to it with sendUpdate.
//
//   npx runpushserver &              # the daemon on 127.0.0.1:8001
//   node examples/handlebars/app.mjs # this app on 127.0.0.1:8000 (PORT to change)
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import Handlebars from 'handlebars';
import pushserver from 'pushserver/express';
import { registerHelpers } from 'pushserver/handlebars';
import { contentSecurityPolicy, listen, ROOM, roomRoutes } from '../room.mjs';

/**
 * Build the app.
 *
 * @param {{ jquery?: 3 | 4 | null }} options jQuery version on the page; null: none
 */
export function createApp({ jquery = null } = {}) {
  const app = express();
  // {{channelUrl}}, {{{pushserverSubscribe}}}, {{{pushserverStreamFrom}}}, {{escapejs}},
  // on an instance of our own; broadcast() renders its partials.
  const handlebars = registerHelpers(Handlebars.create());
  const compiled = new Map();
  app.engine('hbs', (path, data, callback) => {
    if (!compiled.has(path)) compiled.set(path, handlebars.compile(readFileSync(path, 'utf8')));
    callback(null, compiled.get(path)(data));
  });
  const views = join(dirname(fileURLToPath(import.meta.url)), 'views');
  // The partial of one note: {{> note}} on the page, and what broadcast() renders.
  handlebars.registerPartial('note', readFileSync(join(views, 'note.hbs'), 'utf8'));
  app.set('views', views);
  app.set('view engine', 'hbs');
  // Serves /static/pushserver/updates.js.
  app.use(pushserver());
  // res.locals.cspNonce, fresh per response, and the policy that allows it.
  app.use(contentSecurityPolicy());
  // POST /send and /clear publish with sendUpdate, POST /notes broadcasts the note
  // partial; the page's script, style, jQuery.
  app.use(roomRoutes({ jquery, noteTemplate: 'note' }));

  app.get('/', (_req, res) => res.render('index', { room: ROOM, jquery }));
  return app;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) listen(createApp(), 'handlebars');
