"""Options that point the harness at browsers elsewhere (`run`, `probe`): a Playwright server for
Chromium, a WebDriver server for Firefox and WebKit, and the address those browsers load the
page from. Without them everything is local and the server answers loopback only."""

from __future__ import annotations

import argparse

from harness.runtimes.endpoints import Endpoints, check_used, from_options


def add_endpoint_options(q: argparse.ArgumentParser) -> None:
    q.add_argument(
        "--connect",
        metavar="WS_URL",
        help="Chromium of this Playwright server (ws://host:port/, e.g. `playwright run-server`; "
        "started with --unsafe it takes the harness's Chromium flags) instead of Debian's",
    )
    q.add_argument(
        "--webdriver-url",
        metavar="URL",
        help="Firefox and WebKit on this remote WebDriver server (Selenium Grid, a device farm, "
        "a geckodriver or WebKitWebDriver elsewhere) instead of here",
    )
    q.add_argument(
        "--serve-host",
        metavar="HOST[:PORT]",
        help="address the harness's server binds, for browsers on other machines (default "
        "127.0.0.1, loopback only); tensors in and out still need the run's token, the page's "
        "files (TF.js, your models and ops) are readable by whoever reaches it during the run",
    )
    q.add_argument(
        "--public-url",
        metavar="URL",
        help="origin those browsers load the page from (http://name:port), when it is not the "
        "bound address; plain http from a name other than localhost is no secure context: no "
        "WebGPU and no WASM threads there (probe shows it)",
    )


def endpoints(args: argparse.Namespace, browsers: list[str]) -> Endpoints:
    """The Endpoints the options give, for `browsers`; ValueError (a usage error) names a
    wrong one, or one that none of the browsers would use."""
    where = from_options(
        {"endpoint": args.connect} if args.connect is not None else None,  # '' is said
        args.webdriver_url,
        args.serve_host,
        args.public_url,
    )
    check_used(where, browsers)
    return where
