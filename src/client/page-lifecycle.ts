/**
 * Leaving and coming back: `pagehide` (not `unload`: it fires for the back-forward cache
 * too and keeps the page eligible for it) aborts the client's requests; `pageshow` from
 * the cache resumes each channel from its cursor.
 */
import { type Channel, channels } from './channel.js';

const pausedByPagehide: Channel[] = [];

/** `pagehide`: stop every running channel (state `paused`) and remember it. */
export function onPagehide(): void {
  for (const channel of channels.values()) {
    if (!channel.running) continue;
    channel.stop('paused');
    pausedByPagehide.push(channel);
  }
}

/** `pageshow`: back from the back-forward cache, resume what `pagehide` stopped. */
export function onPageshow(event: PageTransitionEvent): void {
  if (!event.persisted) return;
  for (const channel of pausedByPagehide.splice(0)) {
    // Unsubscribed (or subscribed anew) while hidden: not ours to resume.
    if (channels.get(channel.name) === channel) channel.start();
  }
}
