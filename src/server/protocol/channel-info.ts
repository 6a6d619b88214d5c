/**
 * The channel info body (a publisher's GET, and the body of its publish answers), in
 * the format the `Accept` header asks for, byte for byte as Nchan writes it.
 *
 * @module
 */
import { type ChannelInfo, formatId } from '../store/types.js';

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
 * The channel info body in the format the `Accept` header asks for, as Nchan writes it
 * (`application/json` is answered with `text/json`).
 *
 * @returns the Content-Type and the body
 * @example infoBody({ messages: 1, requested: -1, subscribers: 0, lastMessageId: { time: 5, tag: 0 } }, undefined).body
 * // 'queued messages: 1\r\nlast requested: -1 sec. ago\r\nactive subscribers: 0\r\nlast message id: 5:0'
 */
export function infoBody(
  info: ChannelInfo,
  accept: string | undefined,
): { type: string; body: string } {
  const format = infoFormat(accept);
  const id = info.lastMessageId ? formatId(info.lastMessageId) : '0:0';
  const { messages, requested, subscribers } = info;
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
