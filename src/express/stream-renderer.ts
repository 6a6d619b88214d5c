/**
 * `broadcast`'s templates rendered as Express renders views.
 *
 * @module
 */
import type { Application } from 'express';
import type { StreamRenderer } from '../stream/broadcast.js';

/**
 * A renderer for `broadcast` that renders with `app.render`: the app's view engine, views
 * folder and `app.locals` (so the pushserver helpers too), whatever the engine.
 *
 * @param app the Express app
 * @returns the renderer, for `setStreamRenderer` or `broadcast(…, { render })`
 * @example setStreamRenderer(expressRenderer(app));
 */
export function expressRenderer(app: Pick<Application, 'render'>): StreamRenderer {
  return (template, data) =>
    new Promise<string>((resolve, reject) => {
      app.render(template, data, (error: Error | null, html?: string) =>
        error ? reject(error) : resolve(html ?? ''),
      );
    });
}
