"""A virtual X display (Xvfb) for browsers that need one: WebKitGTK's MiniBrowser does not start
without a display (its WebDriver session creation hangs), and Firefox has WebGL only when headed.

Xvfb picks a free display number itself (`-displayfd`), so parallel runs (pytest-xdist workers)
never collide; it listens on no TCP port.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import tempfile

from harness.runtimes import reaper

XVFB = os.environ.get("TFJS_PARITY_XVFB", "Xvfb")


def install_hint(packages: str) -> str:
    """The apt command that installs `packages`, with sudo when not root."""
    sudo = "" if os.geteuid() == 0 else "sudo "
    return f"{sudo}apt-get install -y --no-install-recommends {packages}"


class VirtualDisplay:
    """An Xvfb server of its own; `env` holds its DISPLAY. Raises RuntimeError with the reason
    when Xvfb is missing or does not start within `timeout` seconds."""

    def __init__(self, timeout: float = 15.0) -> None:
        if shutil.which(XVFB) is None:
            raise RuntimeError(f"Xvfb is not installed: {install_hint('xvfb')}")
        read, write = os.pipe()
        # its messages go to a file: a pipe nobody reads would stall it once full
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        try:
            self._process = subprocess.Popen(
                [
                    XVFB,
                    "-displayfd",
                    str(write),
                    "-screen",
                    "0",
                    "1280x1024x24",
                    "-nolisten",
                    "tcp",
                    "-noreset",
                ],
                pass_fds=(write,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._log,
                start_new_session=True,  # a Ctrl-C at the terminal is the harness's to handle
            )
        finally:
            os.close(write)
        reaper.watch(self._process.pid)  # killed if the harness dies without closing it
        with os.fdopen(read) as pipe:
            ready, _, _ = select.select([pipe], [], [], timeout)
            number = pipe.readline().strip() if ready else ""
        if not number.isdigit():
            err = self._stderr()
            self.close()
            raise RuntimeError(
                f"Xvfb did not start within {timeout:.0f} s" + (f": {err}" if err else "")
            )
        self.display = f":{number}"
        self.env = {**os.environ, "DISPLAY": self.display}

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def _stderr(self) -> str:
        """Xvfb's last messages, for an error."""
        with contextlib.suppress(Exception):
            self._log.seek(0)
            return self._log.read()[-2000:].decode(errors="replace").strip()
        return ""

    def close(self) -> None:
        reaper.release(self._process.pid)
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._log.close()
