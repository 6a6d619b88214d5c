/**
 * Live HTML: messages of Turbo Stream elements, applied to the page as Turbo applies
 * them (its actions, targets, and duplicate-id rule), except that scripts in them never
 * run. A message is recognised by its first tag, so the same channel also carries JSON.
 */
import { emit, warn } from './events.js';
import { global } from './global.js';
import type { StreamActionDetail, StreamUpdate } from './types.js';

const STREAM_START = /^\s*<turbo-stream[\s>]/i;

/** The updates this client made from stream messages: JSON that looks like one is not. */
const streamUpdates = new WeakSet<object>();

/** Whether a message body is live HTML. */
export function isStreamBody(body: string): boolean {
  return STREAM_START.test(body);
}

/** The update `data` of a stream message. */
export function streamUpdate(body: string): StreamUpdate {
  const update: StreamUpdate = { type: 'turbo-stream', html: body };
  streamUpdates.add(update);
  return update;
}

/** Whether `data` came from {@link streamUpdate}. */
export function isStreamUpdate(data: unknown): data is StreamUpdate {
  return typeof data === 'object' && data !== null && streamUpdates.has(data);
}

type Action = (elements: Element[], content: () => DocumentFragment) => void;

/** Turbo's actions (`@hotwired/turbo` StreamActions), with its duplicate-id removal. */
const ACTIONS: Record<string, Action> = {
  append(elements, content) {
    for (const element of elements) {
      const fragment = content();
      removeDuplicates(element.children, fragment);
      element.appendChild(fragment);
    }
  },
  prepend(elements, content) {
    for (const element of elements) {
      const fragment = content();
      removeDuplicates(element.children, fragment);
      element.insertBefore(fragment, element.firstChild);
    }
  },
  replace(elements, content) {
    for (const element of elements) {
      if (element.parentNode) element.parentNode.replaceChild(content(), element);
    }
  },
  update(elements, content) {
    for (const element of elements) {
      element.textContent = '';
      element.appendChild(content());
    }
  },
  remove(elements) {
    for (const element of elements) detach(element);
  },
  before(elements, content) {
    for (const element of elements) {
      const fragment = content();
      if (element.parentElement) removeDuplicates(element.parentElement.children, fragment);
      if (element.parentNode) element.parentNode.insertBefore(fragment, element);
    }
  },
  after(elements, content) {
    for (const element of elements) {
      const fragment = content();
      if (element.parentElement) removeDuplicates(element.parentElement.children, fragment);
      if (element.parentNode) element.parentNode.insertBefore(fragment, element.nextSibling);
    }
  },
};

/**
 * Apply every `<turbo-stream>` element of `html` in order. A problem with one action
 * (unknown action, no target on the page) is reported as a non-fatal `error` event and
 * the others still run.
 */
export function applyStream(html: string, channel: string, url: string): void {
  const document = global.document;
  if (!document) return;
  const parser = document.createElement('template');
  parser.innerHTML = html;
  const children = Array.prototype.slice.call(parser.content.children) as Element[];
  for (const element of children) {
    if (element.localName !== 'turbo-stream') {
      problem(
        channel,
        url,
        `a live HTML message holds <${element.localName}> outside <turbo-stream>; it was left out`,
      );
      continue;
    }
    applyAction(document, element, channel, url);
  }
}

function applyAction(document: Document, stream: Element, channel: string, url: string): void {
  const action = stream.getAttribute('action') || '';
  const target = stream.getAttribute('target');
  const targets = stream.getAttribute('targets');
  const description = `<turbo-stream action="${action}" ${target !== null ? `target="${target}"` : `targets="${targets}"`}>`;
  const perform = Object.keys(ACTIONS).indexOf(action) !== -1 ? ACTIONS[action] : undefined;
  if (!perform) {
    problem(
      channel,
      url,
      `${description}: unknown action; use one of ${Object.keys(ACTIONS).join(', ')}`,
    );
    return;
  }
  let elements: Element[];
  try {
    elements = targetElements(document, target, targets);
  } catch (error) {
    problem(channel, url, `${description}: ${(error as Error).message}`);
    return;
  }
  if (elements.length === 0) {
    problem(channel, url, `${description}: no element on the page matches; the action was skipped`);
    return;
  }
  const content = templateContent(document, stream);
  const detail: StreamActionDetail = { channel, action, target, targets, elements, content };
  if (!dispatch(document, 'pushserver:before-stream-action', detail, true)) return;
  perform(elements, () => document.importNode(content, true) as DocumentFragment);
  dispatch(document, 'pushserver:stream-action', detail, false);
}

function targetElements(
  document: Document,
  target: string | null,
  targets: string | null,
): Element[] {
  if (target !== null) {
    const element = document.getElementById(target);
    return element ? [element] : [];
  }
  if (targets !== null) return Array.prototype.slice.call(document.querySelectorAll(targets));
  throw new Error('target or targets attribute is missing');
}

/** The content of the stream's `<template>`, without scripts: they never run. */
function templateContent(document: Document, stream: Element): DocumentFragment {
  const first = stream.firstElementChild;
  const content =
    first && first.localName === 'template'
      ? ((first as HTMLTemplateElement).content.cloneNode(true) as DocumentFragment)
      : document.createDocumentFragment();
  const scripts = content.querySelectorAll('script');
  for (let index = 0; index < scripts.length; index++) {
    const script = scripts[index];
    detach(script);
  }
  return content;
}

/** Existing elements among `siblings` with an id the new content also has go (Turbo's rule). */
function removeDuplicates(siblings: HTMLCollection, fragment: DocumentFragment): void {
  const ids: string[] = [];
  for (let index = 0; index < fragment.children.length; index++) {
    const id = fragment.children[index].id;
    if (id) ids.push(id);
  }
  if (ids.length === 0) return;
  for (const sibling of Array.prototype.slice.call(siblings) as Element[]) {
    if (sibling.id && ids.indexOf(sibling.id) !== -1) detach(sibling);
  }
}

/** Take `node` out of the document, if it is in one. */
function detach(node: Node): void {
  if (node.parentNode) node.parentNode.removeChild(node);
}

/** Dispatch a stream event on `document`; false when a listener cancelled it. */
function dispatch(
  document: Document,
  type: string,
  detail: StreamActionDetail,
  cancelable: boolean,
) {
  const CustomEventClass = global.CustomEvent;
  if (typeof CustomEventClass !== 'function') return true;
  return document.dispatchEvent(new CustomEventClass(type, { bubbles: true, cancelable, detail }));
}

function problem(channel: string, url: string, message: string): void {
  warn(`pushserver: channel "${channel}": ${message}`);
  emit('error', {
    channel,
    url,
    status: null,
    error: new Error(`pushserver: ${message}`),
    retryIn: null,
    fatal: false,
  });
}
