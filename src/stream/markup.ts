/**
 * Turbo Stream markup: what a live HTML fragment looks like on the wire. One message is
 * one or more `<turbo-stream action="…" target="…"><template>…</template></turbo-stream>`
 * elements, as `@hotwired/turbo`'s `StreamElement` reads them, so the same channel feeds
 * this project's client and Turbo's `<turbo-stream-source>`.
 *
 * @module
 */
import { escapeAttribute } from '../escape.js';

/** The content type of a Turbo Stream message (Turbo matches it as a prefix). */
export const TURBO_STREAM_CONTENT_TYPE = 'text/vnd.turbo-stream.html; charset=utf-8';

/** Turbo's actions that change the page (its `refresh` reloads the page and is left out). */
export const STREAM_ACTIONS = [
  'append',
  'prepend',
  'replace',
  'update',
  'remove',
  'before',
  'after',
] as const;

/** One of {@link STREAM_ACTIONS}. */
export type StreamActionName = (typeof STREAM_ACTIONS)[number];

/** Where an action lands: one element by id, or every element a CSS selector matches. */
export type StreamTarget =
  | { target: string; targets?: undefined }
  | { targets: string; target?: undefined };

/** An action whose content is rendered already: the HTML goes into the `<template>` as is. */
export type RenderedStreamAction = StreamTarget & {
  action: StreamActionName;
  /** The fragment; empty or absent for `remove`. */
  html?: string;
};

/**
 * The markup of `actions`, in order: what one message carries.
 *
 * `target` and `targets` are escaped for the attribute; `html` is put into the
 * `<template>` unchanged, so it must be the output of a template engine with autoescape
 * on (or otherwise trusted): markup in it is markup on the page.
 *
 * @param actions at least one
 * @returns the message body
 * @throws TypeError naming the action when its name, target or content is unusable
 * @example
 * streamMarkup([{ action: 'append', target: 'messages', html: '<li>hi</li>' }])
 * // '<turbo-stream action="append" target="messages"><template><li>hi</li></template></turbo-stream>'
 */
export function streamMarkup(actions: readonly RenderedStreamAction[]): string {
  if (actions.length === 0) throw new TypeError('a stream message needs at least one action');
  let markup = '';
  for (const [index, action] of actions.entries()) {
    const where = `stream action ${index} (${JSON.stringify(action?.action)})`;
    checkAction(action, where);
    const place =
      action.target !== undefined
        ? `target="${escapeAttribute(action.target)}"`
        : `targets="${escapeAttribute(action.targets as string)}"`;
    const html = action.html ?? '';
    if (typeof html !== 'string') throw new TypeError(`${where}: html must be a string`);
    const content = action.action === 'remove' ? '' : `<template>${html}</template>`;
    markup += `<turbo-stream action="${action.action}" ${place}>${content}</turbo-stream>`;
  }
  return markup;
}

/**
 * Check an action's name and where it lands.
 *
 * @throws TypeError naming the action and the fix
 */
export function checkAction(action: { action?: unknown } & Partial<StreamTarget>, where: string) {
  if (typeof action !== 'object' || action === null) {
    throw new TypeError(`${where}: an action is an object {action, target | targets, ...}`);
  }
  if (!STREAM_ACTIONS.includes(action.action as StreamActionName)) {
    throw new TypeError(`${where}: the action must be one of ${STREAM_ACTIONS.join(', ')}`);
  }
  const { target, targets } = action;
  if ((target === undefined) === (targets === undefined)) {
    throw new TypeError(
      `${where}: give either target (an element id) or targets (a CSS selector), not ${target === undefined ? 'neither' : 'both'}`,
    );
  }
  const value = target ?? targets;
  if (typeof value !== 'string' || value === '') {
    throw new TypeError(
      `${where}: ${target === undefined ? 'targets' : 'target'} must be a non-empty string`,
    );
  }
}
