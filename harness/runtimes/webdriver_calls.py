"""The JavaScript a WebDriver page runs its calls with: WebDriver classic runs one command at a
time per session and cannot listen to the page's console, so a call is registered in the page
(`window.parityCalls`, web/page/console.js) and then polled: each poll starts it if it has not
started, waits in the page for it to end or a progress mark to come, and brings back the
console lines since the last poll."""

from __future__ import annotations

import concurrent.futures
import json
import threading
from collections.abc import Callable
from typing import Any


def in_daemon(call: Callable[[], Any]) -> concurrent.futures.Future[Any]:
    """`call()` on a daemon thread of its own, its outcome in the Future. Not a thread pool's:
    the interpreter joins those at exit, and a WebDriver command whose server never answers
    (Selenium has no HTTP timeout) would keep the process from exiting."""
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def work() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(call())
        except BaseException as e:
            future.set_exception(e)

    threading.Thread(target=work, daemon=True, name="webdriver").start()
    return future


# Registers `expression` (a function of one argument, or an expression) on `arg` in the page;
# the first poll starts it. Its outcome goes to window.parityCalls[id], as JSON that keeps NaN
# and the infinities. (Started by this command, a call that never yields would keep the command
# itself from answering: the driver answers from the page's event loop.)
START = """
const [expression, arg, id] = arguments;
const slot = window.parityCalls[id] = {done: false};
const settle = (fields) => {
  Object.assign(slot, fields, {done: true});
  window.parityConsole.wake();
};
const encode = (value) => JSON.stringify(value, (k, v) => {
  if (v === undefined) return null;  // a key whose value is undefined is kept, as null
  if (typeof v === 'number' && !Number.isFinite(v)) return {'$number': String(v)};
  if (ArrayBuffer.isView(v)) return Array.from(v);
  return v;
});
slot.start = () => Promise.resolve().then(() => {
  const f = (0, eval)('(' + expression + ')');
  return typeof f === 'function' ? f(arg) : f;
}).then(
  (value) => settle({value: encode(value)}),
  (e) => {  // an Error of any realm (the driver's script may run in a sandbox of its own)
    const error = Object.prototype.toString.call(e) === '[object Error]';
    settle({error: {
      message: error ? `${e.name}: ${e.message}` : `uncaught: ${String(e)}`,
      stack: error ? String(e.stack ?? '') : '',
    }});
  },
);
"""

# Starts the call if it has not started; waits up to `wait` ms for it to end or a new mark;
# answers what the driver has not seen.
POLL = """
const [id, wait, seen, marks, done] = arguments;
const c = window.parityConsole;
c.polled = true;
c.ack(marks);
const answer = () => {
  const slot = window.parityCalls[id];
  if (slot === undefined) return done({lost: true});
  if (slot.done) delete window.parityCalls[id];
  const from = Math.max(seen - c.base, 0);
  done({done: slot.done, value: slot.value, error: slot.error, mark: c.mark, marks: c.marks,
        lines: c.lines.slice(from), next: c.base + c.lines.length,
        dropped: Math.max(c.base - seen, 0)});
};
const slot = window.parityCalls[id];
if (slot === undefined || slot.done || c.marks !== marks) return answer();
if (slot.start) {
  setTimeout(slot.start, 0);
  delete slot.start;
}
new Promise((resolve) => { c.waiters.add(resolve); setTimeout(resolve, wait); }).then(answer);
"""


def decode(text: str | None) -> Any:
    def numbers(d: dict[str, Any]) -> Any:
        return float(d["$number"]) if set(d) == {"$number"} else d

    return None if text is None else json.loads(text, object_hook=numbers)
