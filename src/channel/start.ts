/**
 * Where a page rendered now starts following a channel when it should get only what its
 * render cannot show yet (a `stream_from` page: replaying a buffered `append` would add
 * the element twice). The start is a message id `time:tag` the client treats as read:
 * the later of the render's second (`time:-`, every message of an earlier second is
 * read) and the last message this process published to the channel on the same daemon
 * (its own publish, e.g. the note a form just posted before redirecting to the page).
 *
 * The render's second comes from this process's clock and message ids from the daemon's:
 * the two should agree (NTP), or messages published within the difference are missed
 * (app ahead) or sent again (app behind).
 *
 * @module
 */

/** Channels whose last published id is kept; the oldest is forgotten past this. */
const REMEMBERED_CHANNELS = 10_000;

/** Publisher URL → the newest id published there by this process: `[time, tag]`. */
const published = new Map<string, [number, number]>();

const MESSAGE_ID = /^(\d{1,15}):(\d{1,15})$/;

/**
 * Note a message this process published, from the daemon's answer.
 *
 * @param publisherUrl the channel's publisher URL (one daemon, one channel)
 * @param messageId its id as the channel info writes it, `time:tag` (others are ignored)
 * @example rememberPublished('http://127.0.0.1:8001/publisher/room', '1796323864:0');
 */
export function rememberPublished(publisherUrl: string, messageId: string): void {
  const match = MESSAGE_ID.exec(messageId);
  if (!match) return;
  const id: [number, number] = [Number(match[1]), Number(match[2])];
  const known = published.get(publisherUrl);
  if (known !== undefined) {
    // Answers of concurrent publishes can arrive out of order: keep the newest.
    if (known[0] > id[0] || (known[0] === id[0] && known[1] >= id[1])) return;
    published.delete(publisherUrl);
  } else if (published.size >= REMEMBERED_CHANNELS) {
    published.delete(published.keys().next().value as string);
  }
  published.set(publisherUrl, id);
}

/**
 * The id a page rendered at `now` starts after on the channel published at
 * `publisherUrl`: `time:tag` of this process's last publish there when it is in the
 * render's second or later, else `time:-` (from the render's second on).
 *
 * @param publisherUrl the channel's publisher URL; undefined when it has none here
 * @param now the render time in ms
 * @example renderStart('http://127.0.0.1:8001/publisher/room', Date.now()) // '1796323864:-'
 */
export function renderStart(publisherUrl: string | undefined, now: number): string {
  const second = Math.floor(now / 1000);
  const known = publisherUrl === undefined ? undefined : published.get(publisherUrl);
  return known !== undefined && known[0] >= second ? `${known[0]}:${known[1]}` : `${second}:-`;
}
