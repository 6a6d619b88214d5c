/**
 * Channel info on the wire: the counters Nchan (and the daemon) send in a publisher
 * location's answer, in one of four bodies chosen by `Accept` (text, JSON, XML, YAML),
 * and how a publisher reads them back.
 *
 * @module
 */

/** Channel info as the daemon reports it after a publish (Nchan's body). */
export interface ChannelInfo {
  /** Messages queued in the channel's buffer. */
  messages: number;
  /** Seconds since a subscriber last asked; -1 when never. */
  requested: number;
  /** Subscribers waiting right now. */
  subscribers: number;
  /** Id of the newest message, `seconds:counter`. */
  lastMessageId: string;
}

/** The JSON body the daemon and Nchan send to `Accept: application/json`, byte for byte: read without JSON.parse. */
const CHANNEL_INFO_JSON =
  /^\{"messages": (\d{1,15}), "requested": (-?\d{1,15}), "subscribers": (\d{1,15}), "last_message_id": "(\d{1,15}:\d{1,15})" \}\s*$/;

/** The counters' names in the JSON, XML and YAML bodies. */
const NAMES = ['messages', 'requested', 'subscribers', 'last_message_id'];

/**
 * The text, XML and YAML bodies, tried in this order; the first with a message count
 * wins. Each finds, in order: messages, requested, subscribers, the last message id.
 */
const LINE_FORMS: readonly RegExp[][] = [
  // `queued messages: 1\r\nlast requested: -1 sec. ago\r\nactive subscribers: 0\r\nlast message id: 5:0`
  ['queued messages', 'last requested', 'active subscribers', 'last message id'].map(
    (name) => new RegExp(`^${name}: (\\S+)`, 'm'),
  ),
  // `<channel>\r\n  <messages>1</messages>\r\n  ...  <last_message_id>5:0</last_message_id>\r\n</channel>`
  NAMES.map((name) => new RegExp(`<${name}>([^<\\s]+)</${name}>`)),
  // `---\r\nmessages: 1\r\nrequested: -1\r\nsubscribers: 0\r\nlast_message_id: "5:0"\r\n`
  NAMES.map((name) => new RegExp(`^${name}: "?([^"\\s]+)"?`, 'm')),
];

/**
 * Parse the channel info a daemon sends after a publish: Nchan's text body
 * (`queued messages: 1\r\nlast requested: -1 sec. ago\r\n...`), its JSON, XML or YAML body.
 *
 * @param body the answer's body, decoded as UTF-8
 * @returns the info, or undefined for an empty or unrecognised body (py-hbpush sends none)
 * @example parseChannelInfo('{"messages": 1, "requested": -1, "subscribers": 0, "last_message_id": "5:0" }')
 * // { messages: 1, requested: -1, subscribers: 0, lastMessageId: '5:0' }
 */
export function parseChannelInfo(body: string): ChannelInfo | undefined {
  const exact = CHANNEL_INFO_JSON.exec(body);
  if (exact) {
    return {
      messages: Number(exact[1]),
      requested: Number(exact[2]),
      subscribers: Number(exact[3]),
      lastMessageId: exact[4],
    };
  }
  const text = body.trim();
  if (text.startsWith('{')) {
    try {
      const json = JSON.parse(text);
      if (typeof json.messages === 'number') {
        return {
          messages: json.messages,
          requested: json.requested,
          subscribers: json.subscribers,
          lastMessageId: String(json.last_message_id),
        };
      }
    } catch {
      return undefined;
    }
    return undefined;
  }
  for (const [messages, requested, subscribers, lastMessageId] of LINE_FORMS) {
    const count = messages.exec(text)?.[1];
    if (count === undefined) continue;
    return {
      messages: Number(count),
      requested: Number(requested.exec(text)?.[1] ?? -1),
      subscribers: Number(subscribers.exec(text)?.[1] ?? 0),
      lastMessageId: lastMessageId.exec(text)?.[1] ?? '',
    };
  }
  return undefined;
}

type InfoFormat = 'text' | 'json' | 'xml' | 'yaml';
const INFO_TYPES: Record<InfoFormat, string> = {
  text: 'text/plain',
  json: 'text/json',
  xml: 'text/xml',
  yaml: 'text/yaml',
};
const ACCEPTED: Array<[string, InfoFormat]> = [
  ['application/json', 'json'],
  ['text/json', 'json'],
  ['text/xml', 'xml'],
  ['application/xml', 'xml'],
  ['text/yaml', 'yaml'],
  ['application/yaml', 'yaml'],
  ['text/x-yaml', 'yaml'],
];

/**
 * The channel info body in the format the `Accept` header asks for, byte for byte as
 * Nchan writes it (`application/json` is answered with `text/json`).
 *
 * @param info the counters
 * @param accept the request's `Accept` header
 * @returns the Content-Type and the body
 * @example formatChannelInfo({ messages: 1, requested: -1, subscribers: 0, lastMessageId: '5:0' }, undefined).body
 * // 'queued messages: 1\r\nlast requested: -1 sec. ago\r\nactive subscribers: 0\r\nlast message id: 5:0'
 */
export function formatChannelInfo(
  info: ChannelInfo,
  accept: string | undefined,
): { type: string; body: string } {
  const format = infoFormat(accept);
  const { messages, requested, subscribers, lastMessageId: id } = info;
  let body: string;
  switch (format) {
    case 'json':
      body = `{"messages": ${messages}, "requested": ${requested}, "subscribers": ${subscribers}, "last_message_id": "${id}" }`;
      break;
    case 'xml':
      body =
        '<?xml version="1.0" encoding="UTF-8" ?>\r\n<channel>\r\n' +
        `  <messages>${messages}</messages>\r\n  <requested>${requested}</requested>\r\n` +
        `  <subscribers>${subscribers}</subscribers>\r\n  <last_message_id>${id}</last_message_id>\r\n</channel>`;
      break;
    case 'yaml':
      body = `---\r\nmessages: ${messages}\r\nrequested: ${requested}\r\nsubscribers: ${subscribers}\r\nlast_message_id: "${id}"\r\n\r\n`;
      break;
    default:
      body = `queued messages: ${messages}\r\nlast requested: ${requested} sec. ago\r\nactive subscribers: ${subscribers}\r\nlast message id: ${id}`;
  }
  return { type: INFO_TYPES[format], body };
}

function infoFormat(accept: string | undefined): InfoFormat {
  if (!accept) return 'text';
  let best: InfoFormat = 'text';
  let bestAt = Number.POSITIVE_INFINITY;
  for (const [type, format] of ACCEPTED) {
    const at = accept.indexOf(type);
    if (at >= 0 && at < bestAt) {
      best = format;
      bestAt = at;
    }
  }
  return best;
}
