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

  // src/client/options.ts
  var options = {
    retryDelay: 1e3,
    maxRetryDelay: 3e4,
    jitter: 0.2,
    // The seed's client waits 1 s after an error answer (408 among them); Nchan's own client
    // waits its reconnectTimeout, 1 s, after a 304.
    minPollInterval: 1e3,
  };
  function configure(changes) {
    const given = changes || {};
    for (const key of Object.keys(given)) {
      if (!Object.keys(options).includes(key)) {
        throw new TypeError(`pushserver: "${key}" is not an updates option`);
      }
      const value = given[key];
      if (typeof value !== 'number' || !(value >= 0)) {
        throw new TypeError(`pushserver: updates option "${key}" must be a number >= 0`);
      }
      options[key] = value;
    }
    return Object.assign({}, options);
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

  // src/client/channel.ts
  var channels = /* @__PURE__ */ new Map();
  var cursors = /* @__PURE__ */ new Map();
  var TERMINAL_STATES = ['gone', 'failed', 'closed'];
  var Channel = class {
    constructor(name, url, cursor) {
      this.name = name;
      this.url = url;
      this.cursor = cursor;
      this.state = 'idle';
      this.running = false;
      this.failures = 0;
      this.controller = null;
      this.timer = null;
      /** When the last poll started (`now()`), for `minPollInterval`. */
      this.startedAt = Number.NEGATIVE_INFINITY;
    }
    start() {
      if (this.running) return;
      this.running = true;
      this.poll();
    }
    /** Abort the request in flight and any pending poll; `state` says why. */
    stop(state) {
      this.running = false;
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
      const controller = this.controller;
      this.controller = null;
      if (controller) controller.abort();
      this.setState(state);
    }
    async poll() {
      if (!this.running) return;
      if (this.state !== 'open') this.setState('connecting');
      const controller = new AbortController();
      this.controller = controller;
      this.startedAt = now();
      let response;
      let body = '';
      try {
        response = await fetch(this.url, {
          method: 'GET',
          headers: cursorHeaders(this.cursor),
          // Cookies reach the daemon (and through passthrough, the app) cross-origin too.
          credentials: 'include',
          mode: 'cors',
          cache: 'no-store',
          signal: controller.signal,
        });
        if (response.status === 200) body = await response.text();
      } catch (error) {
        if (controller.signal.aborted) return;
        this.controller = null;
        this.retry(0, error);
        return;
      }
      if (controller.signal.aborted) return;
      this.controller = null;
      this.handle(response, body);
    }
    /** Poll again after `delay` ms (at once when 0). */
    pollIn(delay) {
      if (delay <= 0) {
        this.poll();
        return;
      }
      this.timer = setTimeout(() => {
        this.timer = null;
        this.poll();
      }, delay);
    }
    handle(response, body) {
      const status = response.status;
      if (status === 200) {
        this.receive(response.headers, body);
      } else if (status === 304 || status === 408) {
        this.succeeded();
        this.pollIn(pollWait(this.startedAt));
      } else if (status === 410) {
        this.fail('gone', status, `channel "${this.name}" was deleted on the daemon (410 Gone)`);
      } else if (status >= 500) {
        this.retry(status, new Error(`the daemon answered ${status} for ${this.url}`));
      } else {
        this.fail(
          'failed',
          status,
          `the daemon refused ${this.url} with ${status}; check the channel URL and the daemon's allowOrigin`,
        );
      }
    }
    /**
     * The page's Content-Security-Policy refuses this channel's URL (`connect-src`): no poll
     * can ever pass, so stop (state `failed`) instead of retrying.
     *
     * @param origin the daemon's origin, for the message
     */
    blockedByPolicy(origin) {
      this.fail(
        'failed',
        0,
        `the page's Content-Security-Policy blocks ${this.url} (connect-src); allow the push daemon in connect-src, e.g. "connect-src 'self' ${origin}"`,
        logError,
      );
    }
    receive(headers, body) {
      const lastModified = headers.get('Last-Modified');
      const etag = readEtag(headers);
      this.succeeded();
      if (lastModified !== null && etag !== null) {
        this.cursor = { lastModified, etag };
        cursors.set(this.name, { url: this.url, cursor: this.cursor });
      }
      const data = this.parseMessage(body);
      if (data !== void 0) {
        const update = { channel: this.name, url: this.url, data, lastModified, etag };
        whenDocumentReady(() => deliver(update));
      }
      if (lastModified === null || etag === null) {
        this.fail(
          'failed',
          200,
          `the answer from ${this.url} has no readable Last-Modified and Etag headers; a cross-origin daemon must send Access-Control-Expose-Headers: Last-Modified, Etag`,
        );
        return;
      }
      this.poll();
    }
    /** The message's JSON, or undefined (reported) when it is empty or not JSON. */
    parseMessage(body) {
      if (body === '') {
        warn(`pushserver: an empty message arrived on channel "${this.name}"`);
        return void 0;
      }
      try {
        return JSON.parse(body);
      } catch (error) {
        emit('error', {
          channel: this.name,
          url: this.url,
          status: 200,
          error: new Error(
            `pushserver: a message on channel "${this.name}" is not JSON: ${error.message}`,
          ),
          retryIn: null,
          fatal: false,
        });
        return void 0;
      }
    }
    succeeded() {
      this.failures = 0;
      this.setState('open');
    }
    /** After a network error (status 0) or a 5xx: back off, then ask again with the same cursor. */
    retry(status, error) {
      const delay = Math.max(retryDelay(this.failures), pollWait(this.startedAt));
      this.failures += 1;
      emit('error', {
        channel: this.name,
        url: this.url,
        status,
        error,
        retryIn: delay,
        fatal: false,
      });
      this.setState('retrying');
      this.pollIn(delay);
    }
    /** Stop for good in `state`: a fatal `error` event, and `message` on the console. */
    fail(state, status, message, log = warn) {
      this.stop(state);
      const error = new Error(`pushserver: ${message}`);
      emit('error', {
        channel: this.name,
        url: this.url,
        status,
        error,
        retryIn: null,
        fatal: true,
      });
      log(error.message);
    }
    setState(state) {
      if (state === this.state) return;
      const previous = this.state;
      this.state = state;
      emit('state', { channel: this.name, url: this.url, state, previous });
    }
  };

  // src/client/csp.ts
  function onSecurityPolicyViolation(event) {
    if (event.disposition === 'report') return;
    if (!/^connect-src\b/.test(event.effectiveDirective || event.violatedDirective || '')) return;
    for (const channel of channels.values()) {
      if (!channel.running) continue;
      const target = absoluteUrl(channel.url);
      if (target && isBlockedUrl(event.blockedURI, channel.url, target)) {
        channel.blockedByPolicy(target.origin);
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
        const url = channelsByName[name];
        if (!url) continue;
        if (typeof url !== 'string') {
          throw new TypeError(`pushserver: the URL of channel "${name}" must be a string`);
        }
        const existing = channels.get(name);
        if (existing && !TERMINAL_STATES.includes(existing.state)) continue;
        const known = cursors.get(name);
        const cursor = known && known.url === url ? known.cursor : FIRST_CURSOR;
        const channel = new Channel(name, url, cursor);
        channels.set(name, channel);
        channel.start();
      }
    },
    unsubscribe(name) {
      const channel = channels.get(name);
      if (!channel) return false;
      channels.delete(name);
      channel.stop('closed');
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
    configure,
  };

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
  var pausedByPagehide = [];
  function onPagehide() {
    for (const channel of channels.values()) {
      if (!channel.running) continue;
      channel.stop('paused');
      pausedByPagehide.push(channel);
    }
  }
  function onPageshow(event) {
    if (!event.persisted) return;
    for (const channel of pausedByPagehide.splice(0)) {
      if (channels.get(channel.name) === channel) channel.start();
    }
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
