"""Where the browsers are and where they reach the harness: local browsers and a loopback-only
server by default; a Playwright server (`connect`, as pytest-playwright's `connect_options`) for
Chromium, a remote WebDriver URL (Selenium Grid, a device farm) for Firefox and WebKit, and the
server's address for browsers on other machines.

A page served over plain http from a name other than localhost is not a secure context: such a
browser has no WebGPU (navigator.gpu needs one) and no cross-origin isolation (no WASM threads).
The probe says so; serve over a loopback tunnel or an https proxy (--public-url) to keep them.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import re
import socket
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.runtimes.server import ParityServer

LOOPBACK_NAMES = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class Endpoints:
    """`connect`: Playwright's connect options for Chromium ({"endpoint": "ws://...",
    "headers": {...}, "timeout": ms, ...}, passed to `BrowserType.connect`; `ws_endpoint` is
    read as `endpoint`), or None to launch
    Debian's Chromium. `webdriver_url`: a remote WebDriver server for Firefox and WebKit, or None
    to start them here. `serve_host`/`serve_port`: the address the server binds (loopback by
    default; port 0: any free one). `public_url`: the origin browsers load the page from, when it
    is not the bound address (a name, a proxy, a tunnel)."""

    connect: dict[str, Any] | None = None
    webdriver_url: str | None = None
    serve_host: str = "127.0.0.1"
    serve_port: int = 0
    public_url: str | None = None

    def __post_init__(self) -> None:
        check(self)

    def remote(self, browser: str) -> str | None:
        """Where `browser` runs when not here: the Playwright server or WebDriver URL, as
        `shown` (no credentials, no query)."""
        if browser == "chromium":
            return shown(ws_endpoint(self.connect)) if self.connect else None
        return shown(self.webdriver_url) if self.webdriver_url else None

    @property
    def loopback_only(self) -> bool:
        return self.serve_host in LOOPBACK_NAMES


def ws_endpoint(connect: dict[str, Any]) -> Any:
    """The connect options' endpoint: `endpoint` (Playwright's name for it now) or
    `ws_endpoint` (its name before, and pytest-playwright's)."""
    return connect.get("endpoint", connect.get("ws_endpoint"))


def shown(url: str) -> str:
    """`url` as said in messages and reports: without the user and password (a Selenium Grid
    or device farm URL often holds an access key there) and without the query or path
    parameters (launch options, a farm's capabilities and tokens), marked "?..." (";...").
    Everything between the scheme and the last "@" is the user part, even where a "/", "?" or
    "#" in it would end it for a URL parser; text that is no URL is masked the same way
    ("user:KEY@grid:4444" -> "***@grid:4444")."""
    scheme, sep, rest = url.partition("://")
    head = rest if sep else url
    if "@" in head:  # the user part ends at the last "@": never parsed, never shown
        head = "***@" + head.rpartition("@")[2]
    cut = re.search(r"[?#;]", head)
    tail = {"?": "?...", "#": "", ";": ";..."}[cut.group(0)] if cut else ""
    head = head[: cut.start()] if cut else head
    return (f"{scheme.lower()}://" if sep else "") + head + tail


_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_SECRETS: set[str] = set()  # passwords and tokens of the URLs given to this process


def redact(text: str) -> str:
    """`text` (an error of Playwright's, Selenium's, a browser's, a server's) with every URL
    in it `shown`, and every password or token of an endpoint given to this process
    (`_keep_secrets`) replaced by "***" wherever it appears (a server may echo them back)."""
    text = _URL.sub(lambda m: shown(m.group(0)), text)
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _keep_secrets(url: str) -> None:
    """Remember, for `redact`, `url`'s password (4 characters or more), its user and password
    as basic auth sends them, and its query values of 8 characters or more (tokens, not words
    such as "true" that messages use for other things). A user name alone is no secret, and
    replacing a short one ("user") everywhere would garble every message."""
    _, sep, rest = url.partition("://")
    head = rest if sep else url
    user, at, _ = head.rpartition("@")
    found: list[tuple[str, int]] = []
    if at:
        name, _, password = user.partition(":")
        plain = f"{urllib.parse.unquote(name)}:{urllib.parse.unquote(password)}"
        found += [(password, 4), (base64.b64encode(plain.encode()).decode(), 4)]
    query = head.partition("?")[2].partition("#")[0]
    found += [(v, 8) for _, v in urllib.parse.parse_qsl(query, keep_blank_values=True)]
    for value, least in found:
        for form in (value, urllib.parse.unquote(value)):
            if len(form) >= least:
                _SECRETS.add(form)


def _parsed(url: str, option: str) -> urllib.parse.SplitResult:
    """`url` parsed, its port read; ValueError naming `option` for what a parser refuses (a
    bad IPv6 address, a port that is no number)."""
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port
    except ValueError:  # its words would repeat a piece of the URL (a password's)
        raise ValueError(
            f"{option}: {shown(url)!r} is not a URL (its host or port cannot be read)"
        ) from None
    host_ends = url.find(parts.netloc, url.find("://") + 3) + len(parts.netloc)
    if url.rfind("@") >= host_ends:  # an "@" past the host: a user part the parser cut short
        raise ValueError(  # else the client would take part of the password for the host
            f"{option}: {shown(url)!r}: an '@' after the host; percent-encode '/', '?', '#' "
            "and '@' in a user name or password (%2F, %3F, %23, %40)"
        )
    return parts


def check(e: Endpoints) -> None:
    """ValueError, in the options' terms, for an endpoint that cannot be right."""
    for url in (ws_endpoint(e.connect) if e.connect else None, e.webdriver_url, e.public_url):
        if isinstance(url, str):
            _keep_secrets(url)
    if e.connect is not None:
        ws = ws_endpoint(e.connect)
        if not isinstance(ws, str) or not ws.startswith(("ws://", "wss://")):
            given = repr(shown(ws)) if isinstance(ws, str) else type(ws).__name__
            raise ValueError(f"--connect: a ws:// or wss:// Playwright endpoint, not {given}")
        _parsed(ws, "--connect")
        launch_options(ws, e.connect.get("headers") or {})
    if e.webdriver_url is not None:
        parts = _parsed(e.webdriver_url, "--webdriver-url")
        if not _is_url(e.webdriver_url, ("http", "https")) or parts.query or parts.fragment:
            also = (
                " (a ws:// URL is a Playwright server: give it to --connect)"
                if e.webdriver_url.startswith(("ws://", "wss://"))
                else ""
            )
            raise ValueError(
                "--webdriver-url: an http:// or https:// URL without a query or fragment, not "
                f"{shown(e.webdriver_url)!r}{also}"
            )
    if e.public_url is not None:
        parts = _parsed(e.public_url, "--public-url")
        extra = parts.username or parts.password or parts.query or parts.fragment
        if not _is_url(e.public_url, ("http", "https")) or parts.path not in ("", "/") or extra:
            raise ValueError(
                "--public-url: an origin such as http://host:8123 (no path, user or query), "
                f"not {shown(e.public_url)!r}"
            )
    if not 0 <= e.serve_port <= 65535:
        raise ValueError(f"--serve-host: port {e.serve_port} is not a TCP port")
    if _wildcard(e.serve_host) and e.public_url is None:
        raise ValueError(
            f"--serve-host {e.serve_host}: a wildcard address names no host a browser can load "
            "the page from; give --public-url http://<this machine's name>:<port>"
        )


def check_used(e: Endpoints, browsers: Sequence[str]) -> None:
    """ValueError when a remote endpoint is for none of `browsers` (it would go unused and the
    browsers would run here instead, unsaid)."""
    named = ", ".join(browsers)
    if e.connect is not None and "chromium" not in browsers:
        raise ValueError(
            "--connect: the harness drives Chromium through Playwright, and Chromium is not "
            f"among the browsers ({named}); add --browser chromium, or give Firefox's and "
            "WebKit's server with --webdriver-url"
        )
    if e.webdriver_url is not None and not {"firefox", "webkit"} & set(browsers):
        raise ValueError(
            "--webdriver-url: the harness drives Firefox and WebKit over WebDriver, and neither "
            f"is among the browsers ({named}); add --browser firefox or --browser webkit, or "
            "give a Playwright server for Chromium with --connect"
        )


LAUNCH_OPTIONS = "x-playwright-launch-options"  # the header a Playwright server launches with


def launch_options(endpoint: str, headers: Mapping[str, str]) -> tuple[dict[str, Any], bool]:
    """The launch options the user gave a Playwright server: the endpoint's `launch-options`
    parameter (which the server reads first) or the x-playwright-launch-options header; and
    whether they came in the endpoint. ValueError when they are not a JSON object."""
    query = urllib.parse.parse_qsl(urllib.parse.urlsplit(endpoint).query, keep_blank_values=True)
    given = next((v for k, v in query if k == "launch-options"), None)
    text = given or headers.get(LAUNCH_OPTIONS) or "{}"
    where = "the endpoint's launch-options" if given else f"the header {LAUNCH_OPTIONS}"
    try:  # its text is not repeated: launch options can hold a proxy's password
        options = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"--connect: {where} is not JSON ({e})") from None
    if not isinstance(options, dict) or not isinstance(options.get("args", []), list):
        raise ValueError(
            f"--connect: {where} must be a JSON object (Playwright's launch options, e.g. "
            f'{{"executablePath": "/usr/bin/chromium"}}; "args" a list), not a '
            f"{type(options).__name__}"
            + (" (its args are no list)" if isinstance(options, dict) else "")
        )
    return options, given is not None


def serve(mounts: Mapping[str, Path], endpoints: Endpoints) -> ParityServer:
    """The harness's server for `mounts`, where `endpoints` say (not started)."""
    return ParityServer(
        mounts,
        host=endpoints.serve_host,
        port=endpoints.serve_port,
        public_url=endpoints.public_url,
        remote=not endpoints.loopback_only,
    )


def from_options(
    connect: dict[str, Any] | None,
    webdriver_url: str | None,
    serve_host: str | None,
    public_url: str | None,
) -> Endpoints:
    """Endpoints from the options' text: `serve_host` is HOST or HOST:PORT; with no port of its
    own it binds the public URL's, if that names one. ValueError names what is wrong."""
    host, port = parse_serve_host(serve_host) if serve_host else ("127.0.0.1", 0)
    if public_url and not port:
        with contextlib.suppress(ValueError):  # a bad URL is said by check()
            port = urllib.parse.urlsplit(public_url).port or 0
    endpoints = Endpoints(connect, webdriver_url, host, port, public_url)
    if serve_host:
        check_bindable(host, port)
    return endpoints


def check_bindable(host: str, port: int) -> None:
    """ValueError, in the option's terms, when the server could not listen at host:port (a
    name that does not resolve, an address not on this machine, a port in use)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.bind(address)
    except OSError as e:
        why = e.strerror or str(e)
        raise ValueError(
            f"--serve-host {host}:{port}: the server cannot listen there ({why})"
        ) from None


def parse_serve_host(text: str) -> tuple[str, int]:
    """`HOST` or `HOST:PORT` (`[v6]:PORT`): the address and port (0: any free one)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    if not host:
        raise ValueError(f"--serve-host: no host in {text!r}")
    if port and not port.isdigit():
        raise ValueError(f"--serve-host: port {port!r} is not a number")
    return host, int(port or 0)


def _is_url(text: str, schemes: tuple[str, ...]) -> bool:
    parts = urllib.parse.urlsplit(text)
    return parts.scheme in schemes and bool(parts.hostname)


def _wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False
