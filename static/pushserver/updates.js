/*! pushserver 0.1.0 | browser client | BSD-3-Clause
 * Built from src/client/ by scripts/build-client.mjs (npm run build): edit the source, not this file.
 * updates.min.js is the same code minified (with a source map); updates.d.ts has the types.
 *
 * pushserver browser client: live updates for server-rendered pages.
 *
 * Subscribes to channels on a push daemon that speaks Nchan's long-poll protocol
 * (`npx runpushserver`, or nginx + Nchan) and hands every update, a JSON object,
 * to the processors registered for its `type`.
 *
 *   $.updates.subscribe({ main: 'http://127.0.0.1:8001/subscriber/room-1' });
 *   $.updates.registerProcessor('main', 'message', (data) => { ... });
 *
 * Without jQuery the same object is `window.pushserver.updates`. A page with a strict
 * Content-Security-Policy lists its channels in a non-executable block instead of an
 * inline script; this file reads every such block by itself:
 *
 *   <script type="application/json" data-pushserver-channels>{"main": "http://..."}</script>
 *
 * No dependencies. Requests go through `fetch` with or without jQuery, so the page's own
 * Ajax settings, global Ajax events and pending requests are never touched.
 */
(() => {
  // biome-ignore lint/suspicious/noRedundantUseStrict: a classic script, not a module
  'use strict';

  // src/client/global.ts
  var global = globalThis;

  // src/client/events.ts
  var EVENT_TYPES = ['update', 'error', 'state'];
  var listeners = { update: [], error: [], state: [] };
  var readyQueue = [];
  function whenDocumentReady(callback) {
    if (global.document && global.document.readyState === 'loading') {
      readyQueue.push(callback);
    } else {
      callback();
    }
  }
  function flushReadyQueue() {
    while (readyQueue.length > 0) readyQueue.shift()();
  }
  function emit(type, event) {
    whenDocumentReady(() => emitNow(type, event));
  }
  function emitNow(type, event) {
    const list = listeners[type];
    for (const listener of list.slice()) {
      try {
        listener(event);
      } catch (error) {
        reportException(error);
      }
    }
  }
  function reportException(error) {
    if (typeof global.reportError === 'function') {
      global.reportError(error);
    } else if (global.console) {
      global.console.error(error);
    }
  }
  function warn(message) {
    if (global.console && typeof global.console.warn === 'function') global.console.warn(message);
  }
  function logError(message) {
    if (global.console && typeof global.console.error === 'function') global.console.error(message);
  }

  // src/client/streams.ts
  var STREAM_START = /^\s*<turbo-stream[\s>]/i;
  var streamUpdates = /* @__PURE__ */ new WeakSet();
  function isStreamBody(body) {
    return STREAM_START.test(body);
  }
  function streamUpdate(body) {
    const update = { type: 'turbo-stream', html: body };
    streamUpdates.add(update);
    return update;
  }
  function isStreamUpdate(data) {
    return typeof data === 'object' && data !== null && streamUpdates.has(data);
  }
  var ACTIONS = {
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
  function applyStream(html, channel, url) {
    const document = global.document;
    if (!document) return;
    const parser = document.createElement('template');
    parser.innerHTML = html;
    const children = Array.prototype.slice.call(parser.content.children);
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
  function applyAction(document, stream, channel, url) {
    const action = stream.getAttribute('action') || '';
    const target = stream.getAttribute('target');
    const targets = stream.getAttribute('targets');
    const description = `<turbo-stream action="${action}" ${target !== null ? `target="${target}"` : `targets="${targets}"`}>`;
    const perform = Object.keys(ACTIONS).indexOf(action) !== -1 ? ACTIONS[action] : void 0;
    if (!perform) {
      problem(
        channel,
        url,
        `${description}: unknown action; use one of ${Object.keys(ACTIONS).join(', ')}`,
      );
      return;
    }
    let elements;
    try {
      elements = targetElements(document, target, targets);
    } catch (error) {
      problem(channel, url, `${description}: ${error.message}`);
      return;
    }
    if (elements.length === 0) {
      problem(
        channel,
        url,
        `${description}: no element on the page matches; the action was skipped`,
      );
      return;
    }
    const content = templateContent(document, stream);
    const detail = { channel, action, target, targets, elements, content };
    if (!dispatch(document, 'pushserver:before-stream-action', detail, true)) return;
    perform(elements, () => document.importNode(content, true));
    dispatch(document, 'pushserver:stream-action', detail, false);
  }
  function targetElements(document, target, targets) {
    if (target !== null) {
      const element = document.getElementById(target);
      return element ? [element] : [];
    }
    if (targets !== null) return Array.prototype.slice.call(document.querySelectorAll(targets));
    throw new Error('target or targets attribute is missing');
  }
  function templateContent(document, stream) {
    const first = stream.firstElementChild;
    const content =
      first && first.localName === 'template'
        ? first.content.cloneNode(true)
        : document.createDocumentFragment();
    const scripts = content.querySelectorAll('script');
    for (let index = 0; index < scripts.length; index++) {
      const script = scripts[index];
      detach(script);
    }
    return content;
  }
  function removeDuplicates(siblings, fragment) {
    const ids = [];
    for (let index = 0; index < fragment.children.length; index++) {
      const id = fragment.children[index].id;
      if (id) ids.push(id);
    }
    if (ids.length === 0) return;
    for (const sibling of Array.prototype.slice.call(siblings)) {
      if (sibling.id && ids.indexOf(sibling.id) !== -1) detach(sibling);
    }
  }
  function detach(node) {
    if (node.parentNode) node.parentNode.removeChild(node);
  }
  function dispatch(document, type, detail, cancelable) {
    const CustomEventClass = global.CustomEvent;
    if (typeof CustomEventClass !== 'function') return true;
    return document.dispatchEvent(
      new CustomEventClass(type, { bubbles: true, cancelable, detail }),
    );
  }
  function problem(channel, url, message) {
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

  // src/client/processors.ts
  var processors = /* @__PURE__ */ new Map();
  function registerProcessor(name, type, processor) {
    if (typeof processor !== 'function') {
      throw new TypeError(
        `pushserver: registerProcessor("${name}", "${type}", ...) needs a function as the processor`,
      );
    }
    let byType = processors.get(name);
    if (!byType) {
      byType = /* @__PURE__ */ new Map();
      processors.set(name, byType);
    }
    const key = String(type);
    let list = byType.get(key);
    if (!list) {
      list = [];
      byType.set(key, list);
    }
    list.push(processor);
  }
  function deliver(update) {
    const byType = processors.get(update.channel);
    const data = update.data;
    if (isStreamUpdate(data)) applyStream(data.html, update.channel, update.url);
    const type = data !== null && typeof data === 'object' ? data.type : void 0;
    const list = byType ? byType.get(String(type)) : void 0;
    for (const processor of list ? list.slice() : []) {
      try {
        processor(data);
      } catch (error) {
        emit('error', {
          channel: update.channel,
          url: update.url,
          status: null,
          error,
          retryIn: null,
          fatal: false,
        });
        reportException(error);
      }
    }
    emitNow('update', update);
  }

  // src/client/protocol.ts
  var FIRST_CURSOR = Object.freeze({
    lastModified: 'Thu, 01 Jan 1970 00:00:00 GMT',
    etag: '0',
  });
  function cursorHeaders(cursor) {
    return { 'If-Modified-Since': cursor.lastModified, 'If-None-Match': cursor.etag };
  }
  function readEtag(headers) {
    const etag = headers.get('Etag');
    if (etag !== null) return etag;
    const match = /(?:^|[,\s])etag=([^,\s]+)/i.exec(headers.get('Cache-Control') || '');
    return match ? match[1] : null;
  }
  function parseMessageId(text) {
    if (!text) return null;
    const colon = text.indexOf(':');
    if (colon <= 0) return null;
    return parseTags(text.slice(0, colon), text.slice(colon + 1));
  }
  function parseTags(timeText, tagsText) {
    if (!/^\d+$/.test(timeText)) return null;
    const tags = [];
    let source = -1;
    for (const part of tagsText.split(',')) {
      const match = /^(\[)?(-|\d+)(\])?$/.exec(part.trim());
      if (!match || Boolean(match[1]) !== Boolean(match[3])) return null;
      if (match[1]) {
        if (source !== -1) return null;
        source = tags.length;
      }
      tags.push(match[2] === '-' ? -1 : Number(match[2]));
    }
    if (source === -1) {
      if (tags.length !== 1) return null;
      source = 0;
    }
    return { time: Number(timeText), tags, source };
  }
  function comparePositions(a, b) {
    return a.time !== b.time ? a.time - b.time : a.tag - b.tag;
  }
  function resumeId(positions) {
    if (positions.length === 0) return null;
    let time = Number.POSITIVE_INFINITY;
    for (const position of positions) {
      if (position === null || position.time <= 0) return null;
      time = Math.min(time, position.time);
    }
    const read = positions;
    if (read.length === 1) return `${time}:${read[0].tag}`;
    const bracketed = read.findIndex((position) => position.time === time);
    const tags = read.map((position, index) => {
      if (position.time !== time) return '-';
      return index === bracketed ? `[${position.tag}]` : String(position.tag);
    });
    return `${time}:${tags.join(',')}`;
  }
  function cursorFromId(id) {
    const colon = id.indexOf(':');
    return {
      lastModified: new Date(Number(id.slice(0, colon)) * 1e3).toUTCString(),
      etag: id.slice(colon + 1),
    };
  }

  // src/client/channel.ts
  var channels = /* @__PURE__ */ new Map();
  var resumes = /* @__PURE__ */ new Map();
  var TERMINAL_STATES = ['gone', 'failed', 'closed'];
  var Channel = class {
    constructor(name, url, multiplex, resume, start = null) {
      this.name = name;
      this.url = url;
      this.multiplex = multiplex;
      this.state = 'idle';
      this.transport = null;
      /** Paused by `pagehide`: no connection until `pageshow`. */
      this.paused = false;
      const resumed = resume ? resume.position : null;
      this.position =
        start !== null && (resumed === null || comparePositions(start, resumed) > 0)
          ? start
          : resumed;
      this.cursor = resume && this.position === resumed ? resume.cursor : null;
    }
    /** Whether it wants a connection: subscribed, not stopped for good, not paused. */
    get active() {
      return !this.paused && !TERMINAL_STATES.includes(this.state);
    }
    /**
     * A message of this channel arrived: deliver it unless it was delivered before.
     *
     * @param id its id, or null from a daemon whose ids are not Nchan's (always delivered)
     * @param data the parsed message
     */
    receive(id, data, lastModified, etag) {
      if (id !== null) {
        const position = { time: id.time, tag: id.tags[id.source] };
        if (this.position !== null && comparePositions(position, this.position) <= 0) return;
        this.position = position;
      }
      this.remember();
      if (data === void 0) return;
      const update = { channel: this.name, url: this.url, data, lastModified, etag };
      whenDocumentReady(() => deliver(update));
    }
    /**
     * The connection read past `position` without a message of this channel (the other
     * tags of a multiplexed id): a later resume starts there.
     */
    advance(position) {
      if (this.position !== null && comparePositions(position, this.position) <= 0) return;
      this.position = position;
      this.remember();
    }
    /** Keep where this channel is, under its name and URL, for a later subscribe. */
    remember() {
      resumes.set(this.name, { url: this.url, position: this.position, cursor: this.cursor });
    }
    /** Emit a `state` event when the state or the transport changes. */
    setState(state, transport, retryIn = null) {
      if (state === this.state && transport === this.transport) return;
      const previous = this.state;
      this.state = state;
      this.transport = transport;
      emit('state', {
        channel: this.name,
        url: this.url,
        state,
        previous,
        transport,
        retryIn,
      });
    }
  };

  // src/client/options.ts
  var options = {
    retryDelay: 1e3,
    maxRetryDelay: 3e4,
    jitter: 0.2,
    // The seed's client waits 1 s after an error answer (408 among them); Nchan's own client
    // waits its reconnectTimeout, 1 s, after a 304.
    minPollInterval: 1e3,
    transport: 'auto',
    multiplex: true,
    eventNames: [],
  };
  var TRANSPORTS = ['auto', 'eventsource', 'websocket', 'longpoll'];
  function applyOptions(changes) {
    const given = changes || {};
    for (const key of Object.keys(given)) {
      if (!Object.keys(options).includes(key)) {
        throw new TypeError(`pushserver: "${key}" is not an updates option`);
      }
      const value = given[key];
      if (key === 'transport') {
        if (!TRANSPORTS.includes(value)) {
          throw new TypeError(
            `pushserver: updates option "transport" must be one of ${TRANSPORTS.join(', ')}`,
          );
        }
      } else if (key === 'multiplex') {
        if (typeof value !== 'boolean') {
          throw new TypeError('pushserver: updates option "multiplex" must be true or false');
        }
      } else if (key === 'eventNames') {
        if (
          !Array.isArray(value) ||
          !value.every((name) => typeof name === 'string' && /^[^\r\n]+$/.test(name))
        ) {
          throw new TypeError(
            'pushserver: updates option "eventNames" must be a list of event names, e.g. ["alert"]',
          );
        }
      } else if (typeof value !== 'number' || !(value >= 0)) {
        throw new TypeError(`pushserver: updates option "${key}" must be a number >= 0`);
      }
    }
    const connectionOptions = () =>
      `${options.transport} ${options.multiplex} ${JSON.stringify(options.eventNames)}`;
    const before = connectionOptions();
    Object.assign(options, given);
    options.eventNames = options.eventNames.slice();
    return connectionOptions() !== before;
  }
  function retryDelay(failures) {
    const base = Math.min(options.maxRetryDelay, options.retryDelay * 2 ** Math.min(failures, 30));
    const spread = 1 + options.jitter * (2 * Math.random() - 1);
    return Math.max(0, Math.round(base * spread));
  }
  function pollWait(startedAt) {
    const elapsed = now() - startedAt;
    return Math.max(
      0,
      Math.min(options.minPollInterval, Math.ceil(options.minPollInterval - elapsed)),
    );
  }
  function now() {
    return typeof performance !== 'undefined' ? performance.now() : Date.now();
  }

  // src/client/transports.ts
  var PARKED_MS = 500;
  function globalConstructor(name) {
    const value = global[name];
    return typeof value === 'function' ? value : null;
  }
  function hasEventSource() {
    return globalConstructor('EventSource') !== null;
  }
  function withLastEventId(url, id) {
    if (id === null) return url;
    const target = new URL(url, global.document ? global.document.baseURI : void 0);
    target.searchParams.set('last_event_id', id);
    return target.href;
  }
  function openEventSource(url, resume, events) {
    const requestUrl = withLastEventId(url, resume);
    const EventSourceClass = globalConstructor('EventSource');
    const source = new EventSourceClass(requestUrl, { withCredentials: true });
    let opened = false;
    let over = false;
    const onMessage = (event) => {
      if (!over) events.message(event.lastEventId || null, event.data, null);
    };
    const isMessage = (event) => typeof event.data === 'string';
    source.onopen = (event) => {
      if (isMessage(event)) return onMessage(event);
      opened = true;
      events.open();
    };
    source.onmessage = onMessage;
    for (const name of options.eventNames) {
      if (name !== 'message' && name !== 'open' && name !== 'error') {
        source.addEventListener(name, onMessage);
      }
    }
    source.onerror = (event) => {
      if (isMessage(event)) return onMessage(event);
      if (over) return;
      over = true;
      source.close();
      events.end({
        status: 0,
        error: new Error(
          opened ? `the stream from ${url} ended` : `EventSource could not follow ${url}`,
        ),
        opened,
        waited: opened,
      });
    };
    return {
      transport: 'eventsource',
      requestUrl,
      close() {
        over = true;
        source.close();
      },
    };
  }
  function openWebSocket(url, resume, events) {
    const target = new URL(
      withLastEventId(url, resume),
      global.document ? global.document.baseURI : void 0,
    );
    target.protocol = target.protocol === 'https:' ? 'wss:' : 'ws:';
    const WebSocketClass = globalConstructor('WebSocket');
    const socket = new WebSocketClass(target.href, 'ws+meta.nchan');
    let opened = false;
    let over = false;
    socket.onopen = () => {
      opened = true;
      events.open();
    };
    socket.onmessage = (event) => {
      if (over) return;
      if (typeof event.data !== 'string') return;
      const frame = readMetaFrame(event.data);
      events.message(frame.id, frame.body, null);
    };
    socket.onclose = (event) => {
      if (over) return;
      over = true;
      const status = /^(\d{3})\b/.exec(event.reason || '');
      events.end({
        status: status ? Number(status[1]) : 0,
        error: new Error(
          `the WebSocket to ${url} closed (${event.code}${event.reason ? ` ${event.reason}` : ''})`,
        ),
        opened,
        waited: opened,
      });
    };
    return {
      transport: 'websocket',
      requestUrl: target.href,
      close() {
        over = true;
        socket.close(1e3);
      },
    };
  }
  function readMetaFrame(text) {
    const end = text.indexOf('\n\n');
    if (end < 0 || !text.startsWith('id: ')) return { id: null, body: text };
    const id = text.slice(4, text.indexOf('\n'));
    return { id, body: text.slice(end + 2) };
  }
  function openLongPoll(url, start, events) {
    let cursor = start;
    let controller = null;
    let timer = null;
    let parkedTimer = null;
    let opened = false;
    let over = false;
    let parked = false;
    const open = () => {
      if (!opened && !over) {
        opened = true;
        events.open();
      }
    };
    const end = (status, error, fatal) => {
      over = true;
      events.end({ status, error, opened, waited: parked, fatal });
    };
    const clearParked = () => {
      if (parkedTimer !== null) clearTimeout(parkedTimer);
      parkedTimer = null;
    };
    const poll = async () => {
      timer = null;
      const request = new AbortController();
      controller = request;
      const startedAt = now();
      parked = false;
      parkedTimer = setTimeout(() => {
        parked = true;
        open();
      }, PARKED_MS);
      let response;
      let body = '';
      try {
        response = await fetch(url, {
          method: 'GET',
          headers: cursor ? cursorHeaders(cursor) : {},
          credentials: 'include',
          mode: 'cors',
          cache: 'no-store',
          signal: request.signal,
        });
        if (response.status === 200) body = await response.text();
      } catch (error) {
        clearParked();
        if (request.signal.aborted || over) return;
        end(0, error instanceof Error ? error : new Error(String(error)));
        return;
      } finally {
        controller = null;
      }
      clearParked();
      if (over) return;
      const status = response.status;
      if (status === 200) {
        const lastModified = response.headers.get('Last-Modified');
        const etag = readEtag(response.headers);
        if (lastModified === null || etag === null) {
          end(
            200,
            new Error(
              `the answer from ${url} has no readable Last-Modified and Etag headers; a cross-origin daemon must send Access-Control-Expose-Headers: Last-Modified, Etag`,
            ),
            'failed',
          );
          return;
        }
        open();
        cursor = { lastModified, etag };
        const seconds = Date.parse(lastModified);
        const id = Number.isNaN(seconds) ? null : `${Math.floor(seconds / 1e3)}:${etag}`;
        events.message(id, body, cursor);
        if (!over) poll();
      } else if (status === 304 || status === 408) {
        open();
        const wait = pollWait(startedAt);
        if (wait === 0) poll();
        else timer = setTimeout(poll, wait);
      } else {
        end(status, new Error(`the daemon answered ${status} for ${url}`));
      }
    };
    poll();
    return {
      transport: 'longpoll',
      requestUrl: url,
      close() {
        over = true;
        clearParked();
        if (timer !== null) clearTimeout(timer);
        timer = null;
        if (controller) controller.abort();
      },
    };
  }

  // src/client/connection.ts
  var MAX_IDS = 255;
  var MAX_IDS_LENGTH = 1e3;
  var GONE_AFTER = 3;
  var connections = /* @__PURE__ */ new Map();
  function allConnections() {
    return connections.values();
  }
  var Connection = class {
    constructor(url, slots) {
      this.url = url;
      this.slots = slots;
      this.session = null;
      this.timer = null;
      this.failures = 0;
      this.refusedAsGone = 0;
      this.longPollFallback = false;
      /** An EventSource opened on this URL before: a later failure to open is an outage. */
      this.streamWorked = false;
      this.startedAt = Number.NEGATIVE_INFINITY;
      /** The last message id read on this connection: where a reconnection resumes. */
      this.streamId = null;
      this.running = false;
    }
    /** The active channels of slot `index`. */
    channelsOf(index) {
      const key = this.slots[index];
      return [...channels.values()].filter((channel) => channel.active && slotKey(channel) === key);
    }
    members() {
      const members = [];
      for (let index = 0; index < this.slots.length; index++) {
        members.push(...this.channelsOf(index));
      }
      return members;
    }
    /** The URL the page's CSP may have refused (with its resume parameter, if any). */
    get requestUrl() {
      return this.session ? this.session.requestUrl : this.url;
    }
    start() {
      if (this.running) return;
      this.running = true;
      this.open();
    }
    /** Close the session and any pending reconnection; the channels' states are left alone. */
    stop() {
      this.running = false;
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
      const session = this.session;
      this.session = null;
      if (session) session.close();
      if (connections.get(this.url) === this) connections.delete(this.url);
    }
    transportToUse() {
      if (options.transport !== 'auto') return options.transport;
      return this.longPollFallback || !hasEventSource() ? 'longpoll' : 'eventsource';
    }
    open() {
      if (!this.running) return;
      const transport = this.transportToUse();
      this.setStates('connecting', transport);
      this.startedAt = now();
      const resume =
        this.streamId !== null
          ? this.streamId
          : resumeId(this.slots.map((_key, index) => earliest(this.channelsOf(index))));
      const events = {
        open: () => this.onOpen(transport),
        message: (id, body, cursor) => this.onMessage(id, body, cursor),
        end: (end) => this.onEnd(transport, end),
      };
      if (transport === 'eventsource') {
        this.session = openEventSource(this.url, resume, events);
      } else if (transport === 'websocket') {
        this.session = openWebSocket(this.url, resume, events);
      } else {
        this.session = openLongPoll(this.url, this.longPollStart(resume), events);
      }
    }
    /**
     * Where a long-poll starts: the resume id as a cursor; on a channel's own URL with
     * nothing to resume from, the cursor its daemon last wrote (a daemon whose ids are not
     * Nchan's) or the seed's first cursor; on a multiplexed URL no cursor (the oldest).
     */
    longPollStart(resume) {
      if (resume !== null) return cursorFromId(resume);
      if (this.slots.length > 1) return null;
      const known = this.channelsOf(0).find((channel) => channel.cursor !== null);
      return known ? known.cursor : FIRST_CURSOR;
    }
    onOpen(transport) {
      this.failures = 0;
      if (transport === 'eventsource') this.streamWorked = true;
      this.setStates('open', transport);
    }
    onMessage(idText, body, cursor) {
      this.refusedAsGone = 0;
      let id = parseMessageId(idText);
      if (id !== null && (id.tags.length !== this.slots.length || id.source >= this.slots.length)) {
        id = null;
      }
      if (idText !== null && id !== null) this.streamId = idText;
      const source = id ? id.source : 0;
      const receivers = this.channelsOf(source);
      const data = parseMessage(body, receivers[0], this.url);
      let written = cursor;
      if (written === null && id !== null && idText !== null) written = cursorFromId(idText);
      const lastModified = written === null ? null : written.lastModified;
      const etag = written === null ? null : written.etag;
      for (const channel of receivers) {
        if (this.slots.length === 1 && cursor !== null) channel.cursor = cursor;
        channel.receive(id, data, lastModified, etag);
      }
      if (id === null) return;
      for (let index = 0; index < this.slots.length; index++) {
        if (index === source || id.tags[index] < 0) continue;
        const position = { time: id.time, tag: id.tags[index] };
        for (const channel of this.channelsOf(index)) channel.advance(position);
      }
    }
    onEnd(transport, end) {
      this.session = null;
      if (!this.running) return;
      if (end.fatal) {
        this.fail(end.fatal, end.status, end.error.message);
        return;
      }
      if (
        transport === 'eventsource' &&
        !end.opened &&
        !this.streamWorked &&
        options.transport === 'auto'
      ) {
        this.longPollFallback = true;
        this.open();
        return;
      }
      if (transport === 'longpoll' && end.status === 0) this.longPollFallback = false;
      const status = end.status;
      if (status === 410) {
        this.refusedAsGone = end.waited ? 0 : this.refusedAsGone + 1;
        if (this.refusedAsGone >= GONE_AFTER) {
          this.fail('gone', status, `the channel at ${this.url} is gone (410 Gone)`);
          return;
        }
      } else if (status >= 400 && status < 500 && status !== 408) {
        this.fail(
          'failed',
          status,
          `the daemon refused ${this.url} with ${status}; check the channel URL and the daemon's allowOrigin`,
        );
        return;
      }
      this.retry(transport, end);
    }
    /** Back off (an `error` event for each channel says so), then open again from the last id read. */
    retry(transport, end) {
      const delay = Math.max(retryDelay(this.failures), pollWait(this.startedAt));
      this.failures += 1;
      for (const channel of this.members()) {
        emit('error', {
          channel: channel.name,
          url: channel.url,
          status: end.status,
          error: end.error,
          retryIn: delay,
          fatal: false,
        });
      }
      this.setStates('retrying', transport, delay);
      this.timer = setTimeout(() => {
        this.timer = null;
        this.open();
      }, delay);
    }
    /**
     * Stop for good: every channel of the connection in `state`, a fatal `error` event each,
     * and `message` on the console.
     */
    fail(state, status, message, log = warn) {
      const members = this.members();
      const transport = this.session ? this.session.transport : null;
      this.stop();
      const error = new Error(`pushserver: ${message}`);
      for (const channel of members) {
        channel.setState(state, transport);
        emit('error', {
          channel: channel.name,
          url: channel.url,
          status,
          error,
          retryIn: null,
          fatal: true,
        });
      }
      log(error.message);
    }
    setStates(state, transport, retryIn = null) {
      for (const channel of this.members()) channel.setState(state, transport, retryIn);
    }
  };
  function earliest(list) {
    let result = null;
    for (const channel of list) {
      const position = channel.position;
      if (position === null) return null;
      if (result === null || position.time < result.time) result = position;
      else if (position.time === result.time && position.tag < result.tag) result = position;
    }
    return result;
  }
  function parseMessage(body, channel, url) {
    const name = channel ? channel.name : url;
    if (body === '') {
      warn(`pushserver: an empty message arrived on channel "${name}"`);
      return void 0;
    }
    if (isStreamBody(body)) return streamUpdate(body);
    try {
      return JSON.parse(body);
    } catch (error) {
      emit('error', {
        channel: channel ? channel.name : null,
        url,
        status: 200,
        error: new Error(
          `pushserver: a message on channel "${name}" is not JSON: ${error.message}`,
        ),
        retryIn: null,
        fatal: false,
      });
      return void 0;
    }
  }
  function slotKey(channel) {
    const multiplex = options.multiplex ? channel.multiplex : null;
    if (!multiplex) return `url ${channel.url}`;
    return `multi ${multiplex.prefix}
${multiplex.suffix}
${multiplex.delimiter}
${multiplex.id}`;
  }
  var planned = false;
  function schedulePlan() {
    if (planned) return;
    planned = true;
    queueMicrotask(() => whenDocumentReady(plan));
  }
  function restartAll() {
    for (const connection of [...connections.values()]) connection.stop();
    schedulePlan();
  }
  function stopAll() {
    for (const connection of [...connections.values()]) connection.stop();
  }
  function plan() {
    planned = false;
    const wanted = /* @__PURE__ */ new Map();
    const groups = /* @__PURE__ */ new Map();
    for (const channel of channels.values()) {
      if (!channel.active) continue;
      const key = slotKey(channel);
      const multiplex = options.multiplex ? channel.multiplex : null;
      if (!multiplex) {
        wanted.set(channel.url, [key]);
        continue;
      }
      const groupKey = `${multiplex.prefix}
${multiplex.suffix}
${multiplex.delimiter}`;
      let group = groups.get(groupKey);
      if (!group) {
        group = { channel, slots: [] };
        groups.set(groupKey, group);
      }
      if (!group.slots.includes(key)) group.slots.push(key);
    }
    for (const { slots } of groups.values()) {
      for (const chunk of chunks(slots)) {
        wanted.set(urlOf(chunk), chunk);
      }
    }
    for (const [url, connection] of [...connections]) {
      if (!wanted.has(url) || !connection.running) connection.stop();
    }
    for (const [url, slots] of wanted) {
      if (connections.has(url)) continue;
      const connection = new Connection(url, slots);
      connections.set(url, connection);
      connection.start();
    }
  }
  function chunks(slots) {
    const result = [];
    let current = [];
    let length = 0;
    for (const slot of slots) {
      const id = multiplexOfSlot(slot).id;
      if (
        current.length > 0 &&
        (current.length >= MAX_IDS || length + 1 + id.length > MAX_IDS_LENGTH)
      ) {
        result.push(current);
        current = [];
        length = 0;
      }
      current.push(slot);
      length += (current.length > 1 ? 1 : 0) + id.length;
    }
    if (current.length > 0) result.push(current);
    return result;
  }
  function multiplexOfSlot(slot) {
    const [prefix, suffix, delimiter, id] = slot.slice('multi '.length).split('\n');
    return { prefix, suffix, delimiter, id };
  }
  function urlOf(slots) {
    if (slots.length === 1) {
      const channel = [...channels.values()].find(
        (candidate) => candidate.active && slotKey(candidate) === slots[0],
      );
      return channel.url;
    }
    const first = multiplexOfSlot(slots[0]);
    const ids = slots.map((slot) => multiplexOfSlot(slot).id);
    return `${first.prefix}${ids.join(first.delimiter)}${first.suffix}`;
  }

  // src/client/csp.ts
  function onSecurityPolicyViolation(event) {
    if (event.disposition === 'report') return;
    if (!/^connect-src\b/.test(event.effectiveDirective || event.violatedDirective || '')) return;
    for (const connection of [...allConnections()]) {
      const url = connection.requestUrl;
      const target = absoluteUrl(url);
      if (target && isBlockedUrl(event.blockedURI, url, target)) {
        connection.fail(
          'failed',
          0,
          `the page's Content-Security-Policy blocks ${url} (connect-src); allow the push daemon in connect-src, e.g. "connect-src 'self' ${target.origin}"`,
          logError,
        );
      }
    }
  }
  function absoluteUrl(url) {
    try {
      const target = new URL(url, global.document ? global.document.baseURI : void 0);
      target.hash = '';
      return target;
    } catch (_error) {
      return null;
    }
  }
  function isBlockedUrl(blockedURI, url, target) {
    if (!blockedURI) return false;
    return blockedURI === url || blockedURI === target.href || blockedURI === target.origin;
  }

  // src/client/updates.ts
  var updates = {
    subscribe(channelsByName) {
      if (channelsByName === null || typeof channelsByName !== 'object') {
        throw new TypeError('pushserver: updates.subscribe() takes an object {name: channelUrl}');
      }
      for (const name of Object.keys(channelsByName)) {
        const spec = channelsByName[name];
        if (!spec) continue;
        const { url, multiplex, after } = readSpec(name, spec);
        const existing = channels.get(name);
        if (existing && !TERMINAL_STATES.includes(existing.state)) continue;
        const known = resumes.get(name);
        channels.set(
          name,
          new Channel(name, url, multiplex, known && known.url === url ? known : null, after),
        );
      }
      schedulePlan();
    },
    unsubscribe(name) {
      const channel = channels.get(name);
      if (!channel) return false;
      channels.delete(name);
      channel.setState('closed', null);
      schedulePlan();
      return true;
    },
    registerProcessor(name, type, processor) {
      registerProcessor(name, type, processor);
    },
    on(type, listener) {
      if (!EVENT_TYPES.includes(type)) {
        throw new TypeError(
          `pushserver: unknown event "${type}"; use one of ${EVENT_TYPES.join(', ')}`,
        );
      }
      if (typeof listener !== 'function') {
        throw new TypeError(`pushserver: updates.on("${type}", ...) needs a function`);
      }
      listeners[type].push(listener);
      return () => updates.off(type, listener);
    },
    off(type, listener) {
      if (!EVENT_TYPES.includes(type)) return;
      const list = listeners[type];
      const index = list.indexOf(listener);
      if (index !== -1) list.splice(index, 1);
    },
    state(name) {
      const channel = channels.get(name);
      return channel ? channel.state : void 0;
    },
    transport(name) {
      const channel = channels.get(name);
      return channel ? channel.transport : null;
    },
    configure(changes) {
      if (applyOptions(changes)) restartAll();
      return Object.assign({}, options, { eventNames: options.eventNames.slice() });
    },
  };
  function readSpec(name, spec) {
    if (typeof spec === 'string') return { url: spec, multiplex: null, after: null };
    const given = spec;
    if (typeof spec !== 'object' || typeof given.url !== 'string') {
      throw new TypeError(
        `pushserver: channel "${name}" must be a URL string or {url, multiplex} as the helpers render it`,
      );
    }
    const after = readAfter(name, given.after);
    const multiplex = given.multiplex;
    if (multiplex === void 0 || multiplex === null) {
      return { url: given.url, multiplex: null, after };
    }
    for (const key of ['prefix', 'suffix', 'delimiter', 'id']) {
      if (typeof multiplex[key] !== 'string') {
        throw new TypeError(`pushserver: channel "${name}": multiplex.${key} must be a string`);
      }
    }
    return { url: given.url, multiplex, after };
  }
  function readAfter(name, after) {
    if (after === void 0 || after === null) return null;
    const id = typeof after === 'string' ? parseMessageId(after) : null;
    if (id === null || id.tags.length !== 1) {
      throw new TypeError(
        `pushserver: channel "${name}": after must be a message id "time:tag" or "time:-", e.g. "1796323864:0"; got ${JSON.stringify(after)}`,
      );
    }
    return { time: id.time, tag: id.tags[0] };
  }

  // src/client/data-blocks.ts
  var readBlocks = /* @__PURE__ */ new WeakSet();
  function subscribeFromDocument() {
    if (!global.document) return;
    for (const block of global.document.querySelectorAll('script[data-pushserver-channels]')) {
      if (readBlocks.has(block)) continue;
      readBlocks.add(block);
      try {
        updates.subscribe(JSON.parse(block.textContent || '{}'));
      } catch (error) {
        const message = `pushserver: a data-pushserver-channels block is unusable: ${error.message}`;
        emit('error', {
          channel: null,
          url: null,
          status: null,
          error: new Error(message),
          retryIn: null,
          fatal: true,
        });
        warn(message);
      }
    }
  }

  // src/client/jquery.ts
  function attachToJQuery(api) {
    const jQuery = global.jQuery;
    if (jQuery && !jQuery.updates) jQuery.updates = api;
  }

  // src/client/page-lifecycle.ts
  function onPagehide() {
    for (const channel of channels.values()) {
      if (!channel.active) continue;
      channel.paused = true;
      channel.setState('paused', channel.transport);
    }
    stopAll();
  }
  function onPageshow(event) {
    if (!event.persisted) return;
    for (const channel of channels.values()) channel.paused = false;
    schedulePlan();
  }

  // src/client/index.ts
  var namespace = global.pushserver || {};
  global.pushserver = namespace;
  if (namespace.updates) {
    attachToJQuery(namespace.updates);
  } else {
    install(namespace);
  }
  function install(target) {
    target.updates = updates;
    attachToJQuery(updates);
    if (typeof global.addEventListener === 'function') {
      global.addEventListener('pagehide', onPagehide);
      global.addEventListener('pageshow', onPageshow);
    }
    const document = global.document;
    if (document) document.addEventListener('securitypolicyviolation', onSecurityPolicyViolation);
    subscribeFromDocument();
    if (document && document.readyState === 'loading') {
      document.addEventListener('DOMContentLoaded', () => {
        attachToJQuery(updates);
        subscribeFromDocument();
        flushReadyQueue();
      });
    }
  }
})();
