"""Browsers that outlive the harness are killed: a WebDriver browser (Firefox, WebKit), its driver
and its virtual display each run in a process group of their own, which a small watchdog process
kills when the harness process goes away without closing them: SIGKILL, a crashed pytest-xdist
worker (`os._exit`), a worker its controller ended without teardown. (Chromium under Playwright
already dies with its driver.)

The watchdog reads "+PGID" / "-PGID" lines on a pipe from the harness; the pipe's end (the
harness exited, however) is its signal to kill every group still registered. It ignores the
terminal's Ctrl-C and lives in a session of its own, so it outlasts whatever ends the harness.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading

_WATCHDOG = r"""
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
groups = set()
for line in sys.stdin:
    line = line.strip()
    if line[:1] == "+":
        groups.add(int(line[1:]))
    elif line[:1] == "-":
        groups.discard(int(line[1:]))
for group in groups:
    try:
        os.killpg(group, signal.SIGKILL)
    except OSError:
        pass
"""

_lock = threading.Lock()
_watchdog: subprocess.Popen[bytes] | None = None


def _pipe() -> subprocess.Popen[bytes] | None:
    """The process's watchdog, started on first use; None if it cannot start (then nothing is
    watched: the browsers are still closed by the harness when it exits normally)."""
    global _watchdog
    if _watchdog is None or _watchdog.poll() is not None:
        with contextlib.suppress(OSError):
            _watchdog = subprocess.Popen(
                [sys.executable, "-c", _WATCHDOG],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
    return _watchdog


def _say(line: str) -> None:
    with _lock:
        watchdog = _pipe()
        if watchdog is None or watchdog.stdin is None:
            return
        with contextlib.suppress(OSError, ValueError):
            watchdog.stdin.write(line.encode() + b"\n")
            watchdog.stdin.flush()


def watch(pid: int) -> None:
    """Kill the process group `pid` leads (a process started with `start_new_session=True`)
    if this process ends without `release`-ing it."""
    if _leads_own_group(pid):
        _say(f"+{pid}")


def release(pid: int) -> None:
    """`pid`'s group was ended by the harness: not the watchdog's any more."""
    _say(f"-{pid}")


def kill_group(pid: int) -> None:
    """End the process group `pid` leads at once (a page found hung: its browser with it)."""
    if _leads_own_group(pid):
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
    release(pid)


def _leads_own_group(pid: int) -> bool:
    """`pid` leads a group that is not the harness's own (never kill the harness's group)."""
    try:
        return os.getpgid(pid) == pid and pid != os.getpgrp()
    except OSError:
        return False
