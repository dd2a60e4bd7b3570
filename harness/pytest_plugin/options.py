"""The plugin's command-line options, and their checks before any test runs (a typo is a usage
error, not a skipped or failed test)."""

from __future__ import annotations

import contextlib
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.specs.variants import (
    BROWSERS,
    DEFAULT_VARIANTS,
    candidates,
    parse_reference,
    parse_variant,
)

if TYPE_CHECKING:
    from harness.runtimes.endpoints import Endpoints


def add(parser: pytest.Parser) -> None:
    group = parser.getgroup("tfjs-parity", "TF.js vs Python parity")
    group.addoption(
        "--parity-backend",
        action="append",
        metavar="VARIANT",
        help=f"backend variant to test (repeatable; default: {', '.join(DEFAULT_VARIANTS)}); "
        "e.g. webgl:f16, webgl:nocpuforward",
    )
    group.addoption(
        "--parity-browser",
        action="append",
        choices=BROWSERS,
        help="browser to test (repeatable; default: chromium)",
    )
    group.addoption(
        "--parity-connect",
        metavar="WS_URL",
        help="Chromium of this Playwright server (ws://host:port/) instead of Debian's; or "
        "override the session fixture parity_connect_options (headers, timeout)",
    )
    group.addoption(
        "--parity-webdriver-url",
        metavar="URL",
        help="Firefox and WebKit on this remote WebDriver server (Selenium Grid, device farm)",
    )
    group.addoption(
        "--parity-serve-host",
        metavar="HOST[:PORT]",
        help="address the harness's server binds, for browsers on other machines (default "
        "127.0.0.1: loopback only); tensors still need the run's token",
    )
    group.addoption(
        "--parity-public-url",
        metavar="URL",
        help="origin remote browsers load the page from (http://name:port), if not the bound one",
    )
    group.addoption(
        "--parity-reference",
        default="python",
        metavar="SIDE",
        help="what every backend is compared with: python (default), or a backend such as "
        "wasm or webgl:f16, run as the reference and left out of the backends tested",
    )
    group.addoption(
        "--parity-tolerance",
        action="append",
        default=[],
        metavar="[STAGE][@VARIANT]:KEY=VALUE",
        help="override the tolerance policy (repeatable), e.g. resize:atol=1e-4,rtol=1e-3",
    )
    group.addoption(
        "--parity-min-coverage",
        type=float,
        default=None,
        metavar="SHARE",
        help="fail a run whose model compared fewer than this share (0..1) of its layers or "
        "nodes (over a pipeline's own min_coverage)",
    )
    group.addoption(
        "--parity-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds each step (or the code between two taps) may take on each side, over a "
        "pipeline's own timeout (default 120)",
    )
    group.addoption(
        "--parity-max-stage-mb",
        type=float,
        default=None,
        metavar="MB",
        help="the largest stage read back from the page, in MB (default 1024)",
    )
    group.addoption(
        "--parity-references",
        type=Path,
        default=None,
        metavar="DIR",
        help="read the Python side from this recorded store (tfjs-parity record) instead of "
        "running it: pipelines are read without importing your Python code; a missing or "
        "stale record is that test's error, naming what changed",
    )
    group.addoption(
        "--parity-record",
        type=Path,
        default=None,
        metavar="DIR",
        help="run the Python side only and write each pipeline and case the parity tests "
        "reach to this store (as tfjs-parity record does); no browser starts, the tests are "
        "skipped saying where they recorded",
    )
    group.addoption(
        "--parity-references-update",
        action="store_true",
        help="with --parity-references: compute missing or stale records live and write them; "
        "the session then fails, naming them, unless --parity-references-accept",
    )
    group.addoption(
        "--parity-references-accept",
        action="store_true",
        help="with --parity-references-update: re-recorded records do not fail the session",
    )
    group.addoption(
        "--parity-keep-tensors",
        choices=("failing", "all", "none"),
        default="failing",
        help="keep arrays as .npy under --parity-out (or .parity-artifacts)/tensors/, named in "
        "the report.json written there: the reference's, the candidate's and the stage's "
        "input, of failing stages (default), all, or none; at most 512 MB per session",
    )
    group.addoption(
        "--parity-out",
        type=Path,
        default=None,
        help="write report.json of the session's parity runs, and failed runs' artifacts, here "
        "(default: failed runs go to .parity-artifacts/)",
    )


def check(config: pytest.Config) -> None:
    """pytest.UsageError naming the option and what is wrong with it."""
    if any(config.getoption(o) for o in ("parity_connect", "parity_serve_host", "parity_public_url",
                                         "parity_webdriver_url")):  # fmt: skip
        from harness.runtimes.endpoints import check_used

        url = config.getoption("parity_connect")
        browsers = config.getoption("parity_browser") or ["chromium"]
        with contextlib.suppress(ValueError):  # a wrong reference is said below
            page = parse_reference(config.getoption("parity_reference")).browser
            browsers = [*browsers, *([page] if page else [])]
        try:
            check_used(endpoints(config, {"endpoint": url} if url else None), browsers)
        except ValueError as e:
            raise pytest.UsageError(in_pytest_terms(str(e))) from None
    for v in config.getoption("parity_backend") or ():
        try:
            parse_variant(v)
        except ValueError as e:
            raise pytest.UsageError(f"--parity-backend: {e}") from None
    try:
        reference = parse_reference(config.getoption("parity_reference"))
    except ValueError as e:
        raise pytest.UsageError(f"--parity-reference: {e}") from None
    asked = config.getoption("parity_backend")
    if asked and not candidates(
        asked, reference, config.getoption("parity_browser") or ["chromium"]
    ):
        raise pytest.UsageError(
            f"--parity-reference {reference.name}: it is the only backend asked for; name the "
            "backends to compare with it (--parity-backend)"
        )
    store = config.getoption("parity_references")
    update = config.getoption("parity_references_update")
    if config.getoption("parity_references_accept") and not update:
        raise pytest.UsageError("--parity-references-accept goes with --parity-references-update")
    if update and store is None:
        raise pytest.UsageError("--parity-references-update goes with --parity-references DIR")
    if config.getoption("parity_record") is not None and (store is not None or update):
        raise pytest.UsageError("--parity-record records; --parity-references replays: one of them")
    if store is not None and not update:
        from harness.golden.store import StoreError, check_store

        try:
            check_store(store)
        except StoreError as e:
            raise pytest.UsageError(str(e).replace("--references", "--parity-references")) from None
    for text in config.getoption("parity_tolerance"):
        from harness.compare.tolerance import parse_override

        try:
            parse_override(text)
        except ValueError as e:
            raise pytest.UsageError(f"--parity-tolerance: {e}") from None


def no_backend(only: pytest.Mark | None, reference: str | None) -> str:
    wanted = ", ".join(only.args) if only else "any"
    text = f"none of the backends asked for (--parity-backend) is one this test runs on ({wanted})"
    if (
        reference is not None
        and only is not None
        and any(parse_variant(v).canonical == reference for v in only.args)
    ):
        text += f"; {reference} is the reference (--parity-reference), not compared with itself"
    return text


def endpoints(config: pytest.Config, connect: dict[str, Any] | None) -> Endpoints:
    """Where the browsers are: `connect` (the parity_connect_options fixture) for Chromium, the
    options for the rest. pytest.UsageError names a wrong one."""
    from harness.runtimes.endpoints import from_options

    if connect is not None and not (isinstance(connect, dict) and "endpoint" in connect):
        got = f"keys {sorted(connect)}" if isinstance(connect, dict) else type(connect).__name__
        raise pytest.UsageError(  # not its value: it may hold credentials
            "parity_connect_options: a dict with the Playwright server's `endpoint` "
            f"(ws://...), or None; got {got}"
        )
    from harness.runtimes.endpoints import shown

    url = config.getoption("parity_connect")
    if url and (connect or {}).get("endpoint") != url:
        theirs = shown(str(connect["endpoint"])) if connect else None
        raise pytest.UsageError(
            f"--parity-connect {shown(url)} would go unused: the parity_connect_options fixture "
            f"is overridden (in a conftest) and gives the endpoint {theirs}; drop one of them, "
            "or have the fixture read pytestconfig.getoption('parity_connect')"
        )
    try:
        where = from_options(
            connect,
            config.getoption("parity_webdriver_url"),
            config.getoption("parity_serve_host"),
            config.getoption("parity_public_url"),
        )
    except ValueError as e:
        raise pytest.UsageError(in_pytest_terms(str(e), fixture=connect and not url)) from None
    if (
        connect
        and not url
        and "chromium" not in (config.getoption("parity_browser") or ["chromium"])
    ):
        with contextlib.suppress(ValueError):  # a wrong reference is said by `check`
            if parse_reference(config.getoption("parity_reference")).browser != "chromium":
                warnings.warn(  # the conftest's remote Chromium, unused by this session
                    f"parity_connect_options gives the Playwright server "
                    f"{where.remote('chromium')}, and Chromium is not among the browsers "
                    "(--parity-browser): it is not used",
                    pytest.PytestWarning,
                    stacklevel=1,
                )
    return where


def in_pytest_terms(text: str, fixture: object = False) -> str:
    """A message that names the command line's options, in pytest's (`--parity-...`); one
    about connect options that came from the parity_connect_options fixture names it."""
    text = re.sub(
        r"(?<![\w-])--(connect|webdriver-url|serve-host|public-url|browser|backend|reference)\b",
        r"--parity-\1",
        text,
    )
    if fixture:
        text = text.replace("--parity-connect:", "parity_connect_options:", 1)
    return text


def harness_settings(config: pytest.Config) -> dict[str, Any]:
    """The session Harness's settings, from the options (checked by `check`)."""
    from harness.compare.tolerance import parse_override
    from harness.orchestrate.keep import TensorKeeper

    return {
        "overrides": [parse_override(t) for t in config.getoption("parity_tolerance")],
        "min_coverage": config.getoption("parity_min_coverage"),
        "timeout": config.getoption("parity_timeout"),
        "max_stage_mb": config.getoption("parity_max_stage_mb"),
        "reference": config.getoption("parity_reference"),
        "references": config.getoption("parity_references"),
        "update_references": config.getoption("parity_references_update"),
        "keeper": TensorKeeper(
            config.getoption("parity_out") or Path(".parity-artifacts"),
            config.getoption("parity_keep_tensors"),
        ),
    }


def replaying(config: pytest.Config) -> bool:
    """Recorded references replayed, not updated: the user's Python code is not imported."""
    return config.getoption("parity_references") is not None and not config.getoption(
        "parity_references_update"
    )


def rerecorded_message(config: pytest.Config, rerecorded: list[str]) -> str | None:
    """Why the session fails after re-recording (pytest-regressions' rule: a changed
    reference is seen, unless accepted), or None."""
    if not rerecorded or config.getoption("parity_references_accept"):
        return None
    return (
        f"{len(rerecorded)} reference(s) re-recorded into "
        f"{config.getoption('parity_references')}: the session fails so that a changed "
        "reference is seen; re-run to check against them, or pass --parity-references-accept:\n  "
        + "\n  ".join(rerecorded)
    )


def fail_if_rerecorded(session: pytest.Session, exitstatus: int, rerecorded: list[str]) -> None:
    """A session that re-recorded references and otherwise passed fails (rerecorded_message)."""
    said = rerecorded_message(session.config, rerecorded)
    if said and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
