// The page's console lines, progress marks and uncaught errors, kept in the page for a driver
// that cannot listen to the console (WebDriver classic: Firefox, WebKitGTK), and the calls such
// a driver starts and then polls (window.parityCalls). Playwright listens to the console
// itself; keeping the last lines here costs it nothing. A classic script, so it runs before
// the page's modules and sees their first line.
(() => {
  const KEEP = 500; // lines kept; older ones are dropped (the driver reads them as they come)
  // The page's progress marks (steps.js progress) start with a prefix of this page load's own,
  // so a line the user's code logs ("parity:step resize") is a console line, never a mark.
  const MARK = `parity:${crypto.getRandomValues(new Uint32Array(2)).join('.')}:`;
  const state = {
    lines: [], // [type, text]: type as Playwright names it (warn is "warning")
    base: 0, // the index of lines[0] since the page loaded
    mark: null, // the last progress mark, without its prefix
    marks: 0, // how many marks so far: a driver sees a new one by the count changing
    waiters: new Set(), // resolvers of polls waiting for a call to end or a mark to come
    prefix: MARK, // what a progress mark starts with (a driver that listens reads it)
  };
  const wake = () => {
    for (const resolve of state.waiters) resolve();
    state.waiters.clear();
  };
  const text = (args) => args.map((a) => {
    if (typeof a === 'string') return a;
    if (a instanceof Error) return String(a);
    try { return JSON.stringify(a) ?? String(a); } catch { return String(a); }
  }).join(' ');
  const keep = (type, line) => {
    state.lines.push([type, line]);
    if (state.lines.length > KEEP) {
      state.lines.shift();
      state.base += 1;
    }
  };
  const debug = console.debug.bind(console); // the browser's own, whatever the page does later
  for (const [method, type] of [
    ['log', 'log'], ['info', 'info'], ['debug', 'debug'], ['warn', 'warning'], ['error', 'error'],
  ]) {
    const original = console[method].bind(console);
    console[method] = (...args) => {
      keep(type, text(args));
      return original(...args);
    };
  }
  // A progress mark: kept here (a driver that polls reads it) and said on the browser's own
  // console (a driver that listens reads it there). Not through `console.debug`, which the
  // user's code may silence or wrap (console.debug = () => {}) without losing a mark.
  state.progress = (what) => {
    state.mark = what;
    state.marks += 1;
    wake();
    debug(`${MARK}${what}`);
  };
  window.addEventListener('error', (e) => keep('pageerror', String(e.error ?? e.message)));
  window.addEventListener('unhandledrejection', (e) => keep('pageerror', String(e.reason)));
  state.wake = wake;
  // After a progress mark, for a driver that polls (it sets `polled`): the page goes on once
  // the driver's next poll says it has seen the mark (`ack`), at most ACK_MS later. A step that
  // never yields would otherwise hang with its mark unsent: the driver's answer to a poll
  // leaves through the page's event loop. Nothing to wait for with a driver that listens.
  const ACK_MS = 250;
  state.polled = false;
  state.acked = 0; // marks the driver has seen, as its last poll said
  state.ackWaiters = new Set();
  state.ack = (marks) => {
    state.acked = marks;
    for (const resolve of state.ackWaiters) resolve();
    state.ackWaiters.clear();
  };
  state.settle = () => {
    if (!state.polled || state.acked >= state.marks) return null;
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ACK_MS);
      const done = () => { clearTimeout(timer); resolve(); };
      state.ackWaiters.add(() => (state.acked >= state.marks ? done() : state.ackWaiters.add(done)));
    });
  };
  window.parityConsole = state;
  window.parityCalls = {};
})();
