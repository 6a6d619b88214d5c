/**
 * HTTP dates: the lenient parser Nchan and nginx use for `If-Modified-Since`, and the
 * formatters of `Last-Modified` and `Date`, each cached per second.
 *
 * @module
 */

const MONTHS: Record<string, number> = {
  jan: 0,
  feb: 1,
  mar: 2,
  apr: 3,
  may: 4,
  jun: 5,
  jul: 6,
  aug: 7,
  sep: 8,
  oct: 9,
  nov: 10,
  dec: 11,
};
// RFC 1123 `Sat, 28 Nov 2026 01:21:19 GMT` and RFC 850 `Saturday, 28-Nov-26 01:21:19 GMT`;
// like nginx, whatever follows the time (zone or nothing) is ignored and read as GMT.
const DATE_RE =
  /^\s*[A-Za-z]*,?\s*(\d{1,2})[ -]([A-Za-z]{3})[ -](\d{2,4})\s+(\d{1,2}):(\d{2}):(\d{2})/;
// asctime: `Sun Nov  6 08:49:37 1994`
const ASCTIME_RE =
  /^\s*[A-Za-z]{3}\s+([A-Za-z]{3})\s+(\d{1,2})\s+(\d{1,2}):(\d{2}):(\d{2})\s+(\d{4})/;

/**
 * Parse an HTTP date leniently (RFC 1123, RFC 850, asctime; zone ignored, GMT assumed).
 *
 * @returns unix seconds, or NaN when it is not a date
 * @example parseHttpDate('Saturday, 28-Nov-26 01:21:19 GMT') // 1795828879
 */
export function parseHttpDate(text: string): number {
  let day: string;
  let month: string;
  let year: string;
  let hms: string[];
  let found = DATE_RE.exec(text);
  if (found) {
    [, day, month, year] = found;
    hms = found.slice(4, 7);
  } else {
    found = ASCTIME_RE.exec(text);
    if (!found) return Number.NaN;
    [, month, day] = found;
    hms = found.slice(3, 6);
    year = found[6];
  }
  const monthIndex = MONTHS[month.toLowerCase()];
  if (monthIndex === undefined) return Number.NaN;
  let fullYear = Number(year);
  if (year.length === 2) fullYear += fullYear < 70 ? 2000 : 1900;
  const ms = Date.UTC(
    fullYear,
    monthIndex,
    Number(day),
    Number(hms[0]),
    Number(hms[1]),
    Number(hms[2]),
  );
  return ms / 1000;
}

/**
 * The RFC 1123 date of a unix second, as in `Last-Modified`.
 *
 * @example httpDate(0) // 'Thu, 01 Jan 1970 00:00:00 GMT'
 */
export function httpDate(seconds: number): string {
  // Messages of one second share their Last-Modified: format it once.
  if (seconds !== lastDateSeconds) {
    lastDateSeconds = seconds;
    lastDateText = new Date(seconds * 1000).toUTCString();
  }
  return lastDateText;
}

let lastDateSeconds = Number.NaN;
let lastDateText = '';

let dateSecond = -1;
let dateText = '';

/**
 * The `Date` header value for now, formatted once per second.
 *
 * @example currentHttpDate() // 'Sat, 28 Nov 2026 04:23:33 GMT'
 */
export function currentHttpDate(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = httpDate(second);
  }
  return dateText;
}
