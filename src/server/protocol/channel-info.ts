/**
 * The channel info body of a publisher location's answers (its GET, a publish, a
 * delete): the store's counters in the wire form of `channel/info.ts`, whose writer
 * is the one a publisher's reader is tested against.
 *
 * @module
 */
import { formatChannelInfo } from '../../channel/info.js';
import { type ChannelInfo, formatId } from '../store/types.js';

/**
 * The channel info body in the format the `Accept` header asks for, as Nchan writes it.
 *
 * @returns the Content-Type and the body
 * @example infoBody({ messages: 1, requested: -1, subscribers: 0, lastMessageId: { time: 5, tag: 0 } }, undefined).body
 * // 'queued messages: 1\r\nlast requested: -1 sec. ago\r\nactive subscribers: 0\r\nlast message id: 5:0'
 */
export function infoBody(
  info: ChannelInfo,
  accept: string | undefined,
): { type: string; body: string } {
  return formatChannelInfo(
    {
      messages: info.messages,
      requested: info.requested,
      subscribers: info.subscribers,
      lastMessageId: info.lastMessageId ? formatId(info.lastMessageId) : '0:0',
    },
    accept,
  );
}
