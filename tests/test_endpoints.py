"""Remote endpoints said in the user's terms (pure logic and real Selenium against servers that
are no WebDriver server; no browser): options that cannot be right or would go unused, URLs
shown without credentials, a WebDriver server that is gone or is not one, a browser lost
mid-run said as such."""

import http.server
import json
import socket
import threading
import urllib.parse
import warnings
from typing import ClassVar

import pytest

from harness.orchestrate.errors import run_error
from harness.runtimes import webdriver_browsers
from harness.runtimes.chromium import with_launch_options
from harness.runtimes.driver import BrowserUnavailable
from harness.runtimes.endpoints import Endpoints, check_used, redact, shown
from harness.runtimes.webdriver_errors import said


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


HEADER = "x-playwright-launch-options"


@pytest.mark.parametrize(
    ("connect", "said_"),
    [
        ({"endpoint": "ws://h:1/?launch-options={x:1}"}, "endpoint's launch-options is not JSON"),
        ({"endpoint": "ws://h:1/?launch-options=[1]"}, "must be a JSON object"),
        ({"endpoint": "ws://h:1/", "headers": {HEADER: "{"}}, f"the header {HEADER} is not JSON"),
        ({"endpoint": "ws://h:1/", "headers": {HEADER: '{"args": "--x"}'}}, '"args" a list'),
    ],
)
def test_launch_options_that_are_not_a_json_object_are_a_usage_error(connect, said_):
    with pytest.raises(ValueError, match=r"^--connect: ") as e:
        Endpoints(connect=connect)
    assert said_ in str(e.value)


def test_launch_options_given_are_kept_and_the_harness_flags_come_first():
    theirs = urllib.parse.quote(json.dumps({"executablePath": "/c", "args": ["--mine"]}))
    endpoint, headers = with_launch_options(f"ws://h:1/?launch-options={theirs}", {}, ["--ours"])
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(endpoint).query)
    sent = json.loads(query["launch-options"][0])
    assert sent == {"headless": True, "executablePath": "/c", "args": ["--ours", "--mine"]}
    assert json.loads(headers["x-playwright-launch-options"]) == sent


def test_a_playwright_url_given_as_webdriver_url_says_where_it_goes():
    with pytest.raises(ValueError, match="give it to --connect"):
        Endpoints(webdriver_url="ws://127.0.0.1:3000/")


@pytest.mark.parametrize(
    ("given", "browsers", "said_"),
    [
        (dict(connect={"endpoint": "ws://h:1/"}), ["firefox"], "Chromium is not among the"),
        (dict(webdriver_url="http://grid:4444"), ["chromium"], "neither is among the browsers"),
    ],
)
def test_an_endpoint_no_browser_would_use_is_a_usage_error(given, browsers, said_):
    with pytest.raises(ValueError) as e:
        check_used(Endpoints(**given), browsers)
    assert said_ in str(e.value)


def test_an_endpoint_some_browser_uses_is_accepted():
    both = Endpoints(connect={"endpoint": "ws://h:1/"}, webdriver_url="http://grid:4444")
    check_used(both, ["chromium", "webkit"])
    check_used(Endpoints(), ["firefox"])


def test_urls_are_shown_without_credentials_or_query():
    assert (
        shown("https://user:KEY@hub.example:4444/wd/hub") == "https://***@hub.example:4444/wd/hub"
    )
    assert shown("wss://farm.example/playwright?caps=SECRET") == "wss://farm.example/playwright?..."
    assert shown("http://[::1]:9/") == "http://[::1]:9/"
    # a "/", "#" or "?" in the password does not end the user part here
    assert shown("http://USER:SEC/RET@127.0.0.1:1/") == "http://***@127.0.0.1:1/"
    assert shown("ws://USER:SEC#RET@h:1/x") == "ws://***@h:1/x"
    assert shown("ws://127.0.0.1:1/p;TOKEN") == "ws://127.0.0.1:1/p;..."
    e = Endpoints(connect={"endpoint": "ws://u:p@h:1/?token=T"}, webdriver_url="http://u:p@g:2")
    assert (e.remote("chromium"), e.remote("firefox")) == ("ws://***@h:1/?...", "http://***@g:2")


class _PlainText(http.server.BaseHTTPRequestHandler):
    """A server that is no WebDriver server (a Playwright server's port answers like this);
    it keeps the Authorization headers it was sent."""

    seen: ClassVar[list[str | None]] = []

    def _answer(self) -> None:
        _PlainText.seen.append(self.headers.get("Authorization"))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"Running")

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


def refusal(handler: type, browser=webdriver_browsers.firefox, user: str = "") -> tuple[str, str]:
    """The BrowserUnavailable that `browser` at a local server with `handler` ends in, and the
    server's URL (`user`@ in it)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(BrowserUnavailable) as e:
            browser(url.replace("//", f"//{user}")).open_page("http://127.0.0.1:1/", timeout=10)
    finally:
        server.shutdown()
    return str(e.value), url


def test_a_server_that_is_no_webdriver_server_is_said_so():
    said, url = refusal(_PlainText)
    assert f"the WebDriver server at {url} did not answer as a WebDriver server" in said
    assert "A Playwright server is Chromium's connect option" in said


def test_a_webdriver_server_that_does_not_listen_is_said_so():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BrowserUnavailable) as e:
        webdriver_browsers.webkit(url).open_page("http://127.0.0.1:1/", timeout=10)
    assert str(e.value) == (
        f"webkit did not start: the WebDriver server at {url} does not answer: it refused the "
        "connection (it exited, or nothing listens at that address)"
    )


def test_a_webdriver_error_keeps_its_own_first_line():
    from selenium.common.exceptions import JavascriptException, WebDriverException

    error = JavascriptException("ReferenceError: x is not defined\nstack...")
    assert said(error, "geckodriver") == "ReferenceError: x is not defined"
    lost = WebDriverException("Failed to decode response from marionette")
    assert said(lost, "geckodriver").endswith("(geckodriver lost its connection to Firefox: "
                                             "Firefox died or stalled)")  # fmt: skip
    assert said(ConnectionResetError(104, "reset"), "geckodriver") == (
        "geckodriver does not answer: it dropped the connection (it exited, or was killed)"
    )


def test_a_browser_lost_mid_run_is_its_own_sentence_not_a_harness_error():
    lost = BrowserUnavailable("Chromium (ws://h:1/) did not start: connect ECONNREFUSED")
    assert run_error(lost) == str(lost)
    assert run_error(KeyError("x")).startswith("harness error: KeyError: 'x'")


def test_pytest_connect_for_no_browser_that_uses_it_is_a_usage_error(pytester):
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest("--parity-connect", "ws://h:1/", "--parity-browser", "firefox")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--parity-connect: the harness drives Chromium through Playwright, and Chromium is*"]
    )


def test_pytest_connect_option_a_conftest_overrides_unseen_is_said(pytester):
    connect_options_in_a_conftest(pytester, '{"endpoint": "ws://elsewhere:3000/"}')
    pytester.makepyfile("def test_harness(parity_harness):\n    pass\n")
    result = pytester.runpytest("--parity-connect", "ws://h:1/")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*--parity-connect ws://h:1/ would go unused: the parity_connect_options fixture*"]
    )


@pytest.mark.parametrize("body", [b"<!DOCTYPE HTML><html>nothing here</html>", b"Not Found"])
def test_a_plain_http_server_is_said_to_be_no_webdriver_server(body):
    class Answer(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    said, url = refusal(Answer)
    assert f"the WebDriver server at {url} did not answer as a WebDriver server" in said


def test_credentials_in_a_webdriver_url_are_sent_as_basic_auth_and_never_said():
    _PlainText.seen.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        said, url = refusal(_PlainText, webdriver_browsers.webkit, user="grid:S3CRET@")
    assert "S3CRET" not in said and url.replace("//", "//***@") in said
    assert _PlainText.seen and _PlainText.seen[0] == "Basic Z3JpZDpTM0NSRVQ="  # grid:S3CRET
    assert not [w for w in caught if "username and password" in str(w.message)]


def test_urls_in_errors_are_shown_without_credentials():
    said = redact("WebSocket error: ws://u:KEY@127.0.0.1:1/path?tok=Q 404 Not Found")
    assert said == "WebSocket error: ws://***@127.0.0.1:1/path?... 404 Not Found"
    assert shown("user:KEY@grid:4444") == "***@grid:4444"
    with pytest.raises(ValueError) as e:
        Endpoints(public_url="http://u:KEY@host:8080/?q=Q")
    assert "KEY" not in str(e.value) and "(no path, user or query)" in str(e.value)
    with pytest.raises(ValueError, match="without a query") as e:
        Endpoints(webdriver_url="http://u:KEY@grid:4444/?k=x")
    assert "KEY" not in str(e.value)


def test_probe_of_a_browser_that_cannot_start_says_so_writes_json_and_exits_1(tmp_path):
    from tests.test_pairs import tfjs_parity

    dead = f"http://127.0.0.1:{free_port()}"
    done = tfjs_parity(
        "probe", "--browser", "firefox", "--webdriver-url", dead, "--json", "p.json",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("firefox: unavailable: firefox did not start: ")
    written = json.loads((tmp_path / "p.json").read_text())["browsers"]["firefox"]
    assert "refused the connection" in written["error"] and written["backends"] == {}


def test_what_a_server_echoes_of_the_credentials_given_is_redacted():
    Endpoints(connect={"endpoint": "ws://ECHOUSER:ECHOKEY@127.0.0.1:1/?token=ECHOTOKEN"})
    said = redact("401: bad credentials ECHOUSER:ECHOKEY (token ECHOTOKEN); the user's code")
    assert said == "401: bad credentials ECHOUSER:*** (token ***); the user's code"
    Endpoints(connect={"endpoint": "ws://user:p4ss@127.0.0.1:1/?headless=true"})
    assert redact("the user's run: headless true") == "the user's run: headless true"


@pytest.mark.parametrize(
    ("url", "said_"),
    [("ws://h:1:2/", "is not a URL"), ("ws://[KEY@h/", "is not a URL"), (" ws://h/", "not ' ws")],
)
def test_connect_urls_a_parser_refuses_are_usage_errors_naming_the_option(url, said_):
    with pytest.raises(ValueError, match=r"^--connect: ") as e:
        Endpoints(connect={"endpoint": url})
    assert said_ in str(e.value) and "KEY" not in str(e.value)


def test_launch_options_that_are_not_json_are_not_repeated():
    with pytest.raises(ValueError) as e:
        Endpoints(connect={"endpoint": "ws://h:1/?launch-options=%7BPROXYPASS"})
    assert "PROXYPASS" not in str(e.value)


def test_pytest_fixture_errors_show_no_endpoint_and_no_traceback(pytester):
    connect_options_in_a_conftest(pytester, '{"ws_endpoint": "ws://FIXUSER:FIXKEY@127.0.0.1:1/"}')
    pytester.makepyfile("def test_harness(parity_harness):\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    assert "FIXKEY" not in result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*parity_connect_options: a dict with the Playwright*got keys*"])


def test_pytest_a_conftests_remote_chromium_on_the_default_browser_is_not_called_unused(
    pytester,
):
    connect_options_in_a_conftest(pytester, '{"endpoint": "ws://127.0.0.1:1/"}')
    pytester.makepyfile(
        "import pytest\n\ndef test_where(parity_connect_options, pytestconfig):\n"
        "    from harness.pytest_plugin.options import endpoints\n"
        "    endpoints(pytestconfig, parity_connect_options)\n"
    )
    result = pytester.runpytest("-W", "error::pytest.PytestWarning")
    result.assert_outcomes(passed=1)


def connect_options_in_a_conftest(pytester, returned: str) -> None:
    """A conftest whose session fixture parity_connect_options returns `returned` (Python)."""
    pytester.makeconftest(
        "import pytest\n\n"
        '@pytest.fixture(scope="session")\n'
        f"def parity_connect_options():\n    return {returned}\n"
    )


def test_a_password_with_a_raw_slash_or_hash_is_refused_without_repeating_it():
    for url in ("http://USR:PW/SECRET@127.0.0.1:1/wd/hub", "http://USR:PW#SECRET@127.0.0.1:1/"):
        with pytest.raises(ValueError) as e:
            Endpoints(webdriver_url=url)
        assert "SECRET" not in str(e.value) and "USR" not in str(e.value)
    with pytest.raises(ValueError, match="an '@' after the host; percent-encode"):
        Endpoints(webdriver_url="http://USR:12345/SECRET@127.0.0.1:1/")  # a port, then a path
    Endpoints(webdriver_url="http://USR:PW%2FSECRET@127.0.0.1:1/")  # encoded: fine


def test_a_basic_auth_header_a_server_echoes_is_redacted():
    Endpoints(webdriver_url="http://BASICUSER:BASICKEY@127.0.0.1:1/")
    header = "Basic QkFTSUNVU0VSOkJBU0lDS0VZ"  # BASICUSER:BASICKEY
    assert redact(f"bad request, auth {header}") == "bad request, auth Basic ***"
