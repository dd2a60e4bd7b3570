"""The page's import-map shims are written when a harness starts and they are missing, or were
made from another npm lock or script (a checkout pulled past the commit that stopped keeping
them in git, a TF.js upgrade); without Node.js that is said plainly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parent.parent
ENSURE = "from harness.runtimes import shims; shims.ensure()"


@pytest.fixture
def web(tmp_path: Path) -> Path:
    """A copy of web/ with no shims (its npm tree linked, not copied)."""
    web = tmp_path / "web"
    shutil.copytree(REPO / "web" / "page", web / "page", ignore=shutil.ignore_patterns("shims"))
    shutil.copytree(REPO / "web" / "scripts", web / "scripts")
    shutil.copy(REPO / "web" / "package-lock.json", web)
    (web / "node_modules").symlink_to(REPO / "web" / "node_modules")
    return web


def _ensure(web: Path, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TFJS_PARITY_WEB": str(web)}
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-c", ENSURE], env=env, capture_output=True, text=True, timeout=120
    )


def test_missing_or_stale_shims_are_written(web: Path) -> None:
    tfjs = web / "page" / "shims" / "tfjs.js"
    assert _ensure(web).returncode == 0 and "export const {" in tfjs.read_text()
    assert tfjs.read_text() == (REPO / "web" / "page" / "shims" / "tfjs.js").read_text()
    tfjs.unlink()  # deleted, its stamp still there
    assert _ensure(web).returncode == 0 and tfjs.is_file()
    tfjs.write_text("stale")
    with (web / "package-lock.json").open("a") as f:  # another npm tree
        f.write("\n")
    assert _ensure(web).returncode == 0 and "export const {" in tfjs.read_text()
    tfjs.write_text("garbage(")  # a file changed, its stamp current
    assert _ensure(web).returncode == 0 and "export const {" in tfjs.read_text()


def test_shims_that_cannot_be_written_are_said_plainly(web: Path) -> None:
    (web / "page" / "shims").write_text("")  # a file where the folder should be
    done = _ensure(web)
    assert done.returncode != 0
    said = done.stderr.strip().splitlines()[-1]
    assert said.startswith("harness.runtimes.shims.ShimsError: cannot write"), said
    assert "ENOTDIR" in said


def test_without_node_the_harness_says_what_to_install(web: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bin"
    bare.mkdir()  # a PATH with no node on it
    done = _ensure(web, path=str(bare))
    assert done.returncode != 0
    assert "Node.js is not installed" in done.stderr and "shims" in done.stderr
