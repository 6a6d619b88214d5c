/**
 * The long-poll protocol's cursor: the id of the last message a channel received, sent
 * back as `If-Modified-Since` + `If-None-Match` and read from `Last-Modified` + `Etag`.
 */

/** A message id: its publication date and its counter within that second. */
export interface Cursor {
  lastModified: string;
  etag: string;
}

/** The seed's first cursor: a fresh page gets the oldest message still buffered. */
export const FIRST_CURSOR: Cursor = Object.freeze({
  lastModified: 'Thu, 01 Jan 1970 00:00:00 GMT',
  etag: '0',
});

/** The request headers that ask for the first message after `cursor`. */
export function cursorHeaders(cursor: Cursor): Record<string, string> {
  return { 'If-Modified-Since': cursor.lastModified, 'If-None-Match': cursor.etag };
}

/**
 * The message id's counter: `Etag`, or py-hbpush's `Cache-Control: etag=<n>` when a
 * cross-origin daemon does not expose `Etag`.
 */
export function readEtag(headers: Headers): string | null {
  const etag = headers.get('Etag');
  if (etag !== null) return etag;
  const match = /(?:^|[,\s])etag=([^,\s]+)/i.exec(headers.get('Cache-Control') || '');
  return match ? match[1] : null;
}
