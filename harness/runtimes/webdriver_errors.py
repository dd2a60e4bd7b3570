"""What a failed WebDriver command means, in one line a user can act on (`LOST` in it: the
server does not answer).

Selenium surfaces a WebDriver server that went away as urllib3's text ("HTTPConnectionPool(...):
Max retries exceeded ... [Errno 111] Connection refused"), and a server that is not a WebDriver
server at all (a Playwright server's http port answers plain text) as whatever its reply parser
tripped on ("'str' object has no attribute 'get'")."""

from __future__ import annotations

from harness.runtimes.endpoints import redact

LOST = "does not answer:"  # in every message of a WebDriver server that went away
NOT_WEBDRIVER = (
    "did not answer as a WebDriver server: is the URL a WebDriver endpoint (Selenium Grid's "
    "http://host:4444, a driver's http://host:port)?"
)


def connection_lost(error: BaseException) -> str | None:
    """How the WebDriver server was lost, for an error raised on the way to it (refused,
    dropped, reset, timed out); None for any other error."""
    import urllib3.exceptions

    seen: BaseException | None = error
    for _ in range(5):  # the cause chain: MaxRetryError -> NewConnectionError -> OSError
        if seen is None:
            break
        if isinstance(seen, ConnectionRefusedError) or "connection refused" in str(seen).lower():
            return "it refused the connection (it exited, or nothing listens at that address)"
        if isinstance(seen, urllib3.exceptions.NameResolutionError):  # before timeouts: it is
            return "its host name does not resolve"  # one of urllib3's ConnectTimeoutErrors
        if isinstance(seen, urllib3.exceptions.NewConnectionError):
            return f"it could not be reached ({redact(str(seen))})"
        if isinstance(seen, urllib3.exceptions.ProtocolError | ConnectionError):
            return "it dropped the connection (it exited, or was killed)"
        if isinstance(seen, urllib3.exceptions.TimeoutError | TimeoutError):
            return "it did not answer in time"
        if isinstance(seen, urllib3.exceptions.MaxRetryError):
            seen = seen.reason
            continue
        if isinstance(seen, OSError):
            return f"it could not be reached ({redact(str(seen))})"
        seen = seen.__cause__ or seen.__context__
    return None


def said(error: BaseException, server: str, starting: bool = False) -> str:
    """One line for `error`, raised by a command to the WebDriver server named `server`
    ("geckodriver", "the WebDriver server at http://..."). `starting`: the command was the
    new-session request, where an error that is no WebDriver error means the server is not
    one."""
    from selenium.common.exceptions import WebDriverException

    lost = connection_lost(error)
    if lost is not None:
        return f"{server} {LOST} {lost}"
    text = redact((getattr(error, "msg", None) or str(error)).strip())
    first = text.splitlines()[0] if text else type(error).__name__
    if "failed to decode response from marionette" in first.lower():
        # geckodriver's words when its connection to Firefox (Marionette) breaks mid-command
        # (mozilla/geckodriver issues 1113, 1559: Firefox's process died or stalled, often for
        # memory); the harness cannot tell more
        first += " (geckodriver lost its connection to Firefox: Firefox died or stalled)"
    if starting and not isinstance(error, WebDriverException):  # Selenium could not read it
        return f"{server} {NOT_WEBDRIVER}; A Playwright server is Chromium's connect option"
    if starting and type(error) is WebDriverException and _not_webdriver(first):
        # Selenium passes a reply that is no WebDriver error (an HTML page, a bare HTTP status)
        # on as the message of a plain WebDriverException
        return f"{server} {NOT_WEBDRIVER} (it answered {first[:80]!r})"
    return first


def _not_webdriver(text: str) -> bool:
    """An answer no WebDriver server gives to a new-session request: an HTML page, an HTTP
    status phrase alone, geckodriver's own words for a request to a path it does not serve."""
    import http

    phrases = {status.phrase.lower() for status in http.HTTPStatus}
    text = text.strip().lower()
    return text.startswith("<") or text in phrases or text == "http method not allowed"
