// The example page's own script: shows the updates of channel "room" and sends the
// form through the app (POST /send, which calls sendUpdate). Loaded from the page's
// origin, so it also runs under `Content-Security-Policy: script-src 'self'`.
(() => {
  // With jQuery on the page the client is $.updates; without, window.pushserver.updates.
  const updates = window.jQuery ? window.jQuery.updates : window.pushserver.updates;
  const list = document.getElementById('messages');
  const state = document.getElementById('state');

  updates.registerProcessor('room', 'message', (data) => {
    const item = document.createElement('li');
    item.textContent = data.text;
    list.append(item);
  });
  updates.registerProcessor('room', 'clear', () => list.replaceChildren());

  // How the page is connected: the state and the transport (eventsource, or longpoll
  // where EventSource is unavailable or cannot connect).
  const show = () => {
    const now = updates.state('room');
    const transport = updates.transport('room');
    state.textContent = now ? (transport ? `${now} (${transport})` : now) : 'not subscribed';
    state.dataset.state = now ?? '';
  };
  updates.on('state', show);
  show();

  for (const form of document.querySelectorAll('form[data-post]')) {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const response = await fetch(form.action, {
        method: 'POST',
        body: new URLSearchParams(new FormData(form)),
      });
      if (!response.ok) state.textContent = `sending failed: ${response.status}`;
      form.reset();
    });
  }
})();
