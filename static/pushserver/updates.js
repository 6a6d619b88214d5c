/*!
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
 * Hand-written and served as is: no build step, no dependencies. Requests go through
 * `fetch` with or without jQuery, so the page's own Ajax settings, global Ajax events
 * and pending requests are never touched.
 */
((global) => {
  // biome-ignore lint/suspicious/noRedundantUseStrict: a classic script, not a module
  'use strict';

  const namespace = global.pushserver || {};
  global.pushserver = namespace;

  // Loaded twice (two script tags): keep the first instance and its subscriptions.
  if (namespace.updates) {
    attachToJQuery(namespace.updates);
    return;
  }

  // The seed's first cursor: a fresh page gets the oldest message still buffered.
  const FIRST_CURSOR = Object.freeze({ lastModified: 'Thu, 01 Jan 1970 00:00:00 GMT', etag: '0' });
  const EVENT_TYPES = ['update', 'error', 'state'];
  const TERMINAL_STATES = ['gone', 'failed', 'closed'];

  const options = {
    /** Milliseconds before the first retry after a network error or a 5xx. */
    retryDelay: 1000,
    /** Upper bound of the doubling retry delay. */
    maxRetryDelay: 30000,
    /** Each delay is randomised by up to this fraction, either way. */
    jitter: 0.2,
  };

  /** name -> Channel, for every channel subscribed and not unsubscribed. */
  const channels = new Map();
  /** name -> {url, cursor}: where a channel was, so subscribing again resumes there. */
  const cursors = new Map();
  /** name -> Map(type -> [processor]), in registration order. */
  const processors = new Map();
  const listeners = { update: [], error: [], state: [] };

  /** One channel's long-poll loop: at most one request in flight, one cursor. */
  class Channel {
    constructor(name, url, cursor) {
      this.name = name;
      this.url = url;
      this.cursor = cursor;
      this.state = 'idle';
      this.failures = 0;
      this.controller = null;
      this.timer = null;
      this.running = false;
    }

    start() {
      if (this.running) return;
      this.running = true;
      this.poll();
    }

    /** Abort the request in flight and any pending retry; `state` says why. */
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
      let response;
      let body = '';
      try {
        response = await fetch(this.url, {
          method: 'GET',
          headers: {
            'If-Modified-Since': this.cursor.lastModified,
            'If-None-Match': this.cursor.etag,
          },
          // Cookies reach the daemon (and through passthrough, the app) cross-origin too.
          credentials: 'include',
          mode: 'cors',
          cache: 'no-store',
          signal: controller.signal,
        });
        if (response.status === 200) body = await response.text();
      } catch (error) {
        // Aborted by stop() (unsubscribe, pagehide): not an error of the channel.
        if (controller.signal.aborted) return;
        this.controller = null;
        this.retry(0, error);
        return;
      }
      if (controller.signal.aborted) return;
      this.controller = null;
      this.handle(response, body);
    }

    handle(response, body) {
      const status = response.status;
      if (status === 200) {
        this.receive(response.headers, body);
      } else if (status === 304 || status === 408) {
        // Nothing newer (interval polling) or the daemon's wait timed out: ask again, same cursor.
        this.succeeded();
        this.poll();
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

    receive(headers, body) {
      const lastModified = headers.get('Last-Modified');
      const etag = readEtag(headers);
      this.succeeded();
      if (lastModified !== null && etag !== null) {
        this.cursor = { lastModified, etag };
        cursors.set(this.name, { url: this.url, cursor: this.cursor });
      }
      const data = parseMessage(this, body);
      if (data !== undefined) {
        const update = { channel: this.name, url: this.url, data, lastModified, etag };
        whenDocumentReady(() => deliver(update));
      }
      if (lastModified === null || etag === null) {
        // Without a cursor the next poll would return this same message again, forever.
        this.fail(
          'failed',
          200,
          `the answer from ${this.url} has no readable Last-Modified and Etag headers; ` +
            'a cross-origin daemon must send Access-Control-Expose-Headers: Last-Modified, Etag',
        );
        return;
      }
      this.poll();
    }

    succeeded() {
      this.failures = 0;
      this.setState('open');
    }

    retry(status, error) {
      const delay = retryDelay(this.failures);
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
      this.timer = setTimeout(() => {
        this.timer = null;
        this.poll();
      }, delay);
    }

    fail(state, status, message) {
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
      warn(error.message);
    }

    setState(state) {
      if (state === this.state) return;
      const previous = this.state;
      this.state = state;
      emit('state', { channel: this.name, url: this.url, state, previous });
    }
  }

  /** The message id's counter: `Etag`, or py-hbpush's `Cache-Control: etag=<n>` when Etag is unreadable. */
  function readEtag(headers) {
    const etag = headers.get('Etag');
    if (etag !== null) return etag;
    const match = /(?:^|[,\s])etag=([^,\s]+)/i.exec(headers.get('Cache-Control') || '');
    return match ? match[1] : null;
  }

  function parseMessage(channel, body) {
    if (body === '') {
      warn(`pushserver: an empty message arrived on channel "${channel.name}"`);
      return undefined;
    }
    try {
      return JSON.parse(body);
    } catch (error) {
      emit('error', {
        channel: channel.name,
        url: channel.url,
        status: 200,
        error: new Error(
          `pushserver: a message on channel "${channel.name}" is not JSON: ${error.message}`,
        ),
        retryIn: null,
        fatal: false,
      });
      return undefined;
    }
  }

  /** Capped exponential backoff with jitter: about 1 s, 2 s, 4 s ... up to maxRetryDelay. */
  function retryDelay(failures) {
    const base = Math.min(options.maxRetryDelay, options.retryDelay * 2 ** Math.min(failures, 30));
    const spread = 1 + options.jitter * (2 * Math.random() - 1);
    return Math.round(base * spread);
  }

  /** Run every processor of the update's type in registration order, then the `update` listeners. */
  function deliver(update) {
    const byType = processors.get(update.channel);
    const type =
      update.data !== null && typeof update.data === 'object' ? update.data.type : undefined;
    const list = byType ? byType.get(String(type)) : undefined;
    for (const processor of list ? list.slice() : []) {
      try {
        processor(update.data);
      } catch (error) {
        // One broken processor must not starve the others or stop the loop.
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

  // Scripts that register processors may still be loading; updates wait for them.
  const readyQueue = [];

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

  // Events wait for the document too, in the same queue, so a listener added by a later
  // script sees a channel's whole history in order.
  function emit(type, event) {
    whenDocumentReady(() => emitNow(type, event));
  }

  function emitNow(type, event) {
    for (const listener of listeners[type].slice()) {
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

  /** Subscribe to every channel listed in `<script type="application/json" data-pushserver-channels>`. */
  const readBlocks = new WeakSet();

  function subscribeFromDocument() {
    if (!global.document) return;
    for (const block of global.document.querySelectorAll('script[data-pushserver-channels]')) {
      if (readBlocks.has(block)) continue;
      readBlocks.add(block);
      try {
        updates.subscribe(JSON.parse(block.textContent || '{}'));
      } catch (error) {
        // One bad block must not keep the others (or the page's scripts) from running.
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

  function attachToJQuery(api) {
    const jQuery = global.jQuery;
    if (jQuery && !jQuery.updates) jQuery.updates = api;
  }

  // pagehide, not unload: it fires for bfcache too and keeps the page eligible for it.
  const pausedByPagehide = [];

  function onPagehide() {
    for (const channel of channels.values()) {
      if (!channel.running) continue;
      channel.stop('paused');
      pausedByPagehide.push(channel);
    }
  }

  function onPageshow(event) {
    if (!event.persisted) return;
    // Back from the bfcache: carry on from each channel's cursor.
    for (const channel of pausedByPagehide.splice(0)) {
      if (channels.get(channel.name) === channel) channel.start();
    }
  }

  const updates = {
    /**
     * Subscribe to channels: `{name: channelUrl, ...}`. A name already subscribed is left
     * alone (as the seed); a falsy URL is skipped. Subscribing a name again after
     * `unsubscribe` resumes after the last update it received from the same URL.
     */
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

    /** Stop listening to `name`; its processors stay registered. Returns whether it was subscribed. */
    unsubscribe(name) {
      const channel = channels.get(name);
      if (!channel) return false;
      channels.delete(name);
      channel.stop('closed');
      return true;
    },

    /** Call `processor(data)` for every update on channel `name` whose `data.type` is `type`. */
    registerProcessor(name, type, processor) {
      if (typeof processor !== 'function') {
        throw new TypeError(
          `pushserver: registerProcessor("${name}", "${type}", ...) needs a function as the processor`,
        );
      }
      if (!processors.has(name)) processors.set(name, new Map());
      const byType = processors.get(name);
      const key = String(type);
      if (!byType.has(key)) byType.set(key, []);
      byType.get(key).push(processor);
    },

    /**
     * Listen to `update` ({channel, url, data, lastModified, etag}), `error` ({channel, url,
     * status, error, retryIn, fatal}) or `state` ({channel, url, state, previous}).
     * Returns a function that removes the listener.
     */
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

    /** Remove a listener added with `on`. */
    off(type, listener) {
      const list = listeners[type];
      const index = list ? list.indexOf(listener) : -1;
      if (index !== -1) list.splice(index, 1);
    },

    /**
     * The state of channel `name`: `connecting`, `open` (the daemon answered), `retrying`
     * (waiting after an error), `paused` (page hidden), `gone` (410), `failed`, `closed`,
     * or undefined when it is not subscribed.
     */
    state(name) {
      const channel = channels.get(name);
      return channel ? channel.state : undefined;
    },

    /** Change the retry timing: `{retryDelay, maxRetryDelay, jitter}`. Returns the options now in use. */
    configure(changes) {
      for (const key of Object.keys(changes || {})) {
        if (!(key in options)) throw new TypeError(`pushserver: "${key}" is not an updates option`);
        if (typeof changes[key] !== 'number' || !(changes[key] >= 0)) {
          throw new TypeError(`pushserver: updates option "${key}" must be a number >= 0`);
        }
        options[key] = changes[key];
      }
      return Object.assign({}, options);
    },
  };

  namespace.updates = updates;
  attachToJQuery(updates);

  if (typeof global.addEventListener === 'function') {
    global.addEventListener('pagehide', onPagehide);
    global.addEventListener('pageshow', onPageshow);
  }

  subscribeFromDocument();
  if (global.document && global.document.readyState === 'loading') {
    global.document.addEventListener('DOMContentLoaded', () => {
      // jQuery may have been loaded after this file.
      attachToJQuery(updates);
      subscribeFromDocument();
      flushReadyQueue();
    });
  }
})(typeof window !== 'undefined' ? window : globalThis);
