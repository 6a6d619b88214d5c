/**
 * Leaving and coming back: `pagehide` (not `unload`: it fires for the back-forward cache
 * too and keeps the page eligible for it) closes the client's connections; `pageshow`
 * from the cache reconnects, each channel resuming from where it was.
 */
import { channels } from './channel.js';
import { schedulePlan, stopAll } from './connection.js';

/** `pagehide`: close every connection, the active channels `paused`. */
export function onPagehide(): void {
  for (const channel of channels.values()) {
    if (!channel.active) continue;
    channel.paused = true;
    channel.setState('paused', channel.transport);
  }
  stopAll();
}

/** `pageshow`: back from the back-forward cache, reconnect what `pagehide` paused. */
export function onPageshow(event: PageTransitionEvent): void {
  if (!event.persisted) return;
  for (const channel of channels.values()) channel.paused = false;
  schedulePlan();
}
