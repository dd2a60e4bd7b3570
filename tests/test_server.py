"""The loopback server: its roots only, isolation headers, uploads only with the token."""

import http.client
from pathlib import Path

import numpy as np
import pytest

from harness.core.tensors import WireFormatError, encode, pack, unpack
from harness.runtimes.server import ParityServer


@pytest.fixture
def server(tmp_path: Path):
    web = tmp_path / "web"
    vendor = tmp_path / "vendor"
    web.mkdir()
    vendor.mkdir()
    (web / "index.html").write_text("<p>page</p>")
    (vendor / "lib.wasm").write_bytes(b"\0asm")
    (tmp_path / "secret.txt").write_text("outside every root")
    (web / "escape").symlink_to(tmp_path / "secret.txt")
    with ParityServer({"/": web, "/vendor/": vendor}, upload_cap=1024) as s:
        yield s


def request(server, method, path, body=None, headers=None, host_header=None):
    host, port = server.origin.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.putrequest(method, path, skip_accept_encoding=True, skip_host=host_header is not None)
    if host_header is not None:
        conn.putheader("Host", host_header)
    for k, v in (headers or {}).items():
        conn.putheader(k, v)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    if body is not None:
        conn.send(body)
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def upload_headers(server, **extra):
    return {
        "X-Parity-Token": server.token,
        "X-Parity-Dtype": "float32",
        "X-Parity-Shape": "2",
        "Origin": server.origin,
        **extra,
    }


def test_listens_on_loopback_only(server):
    assert server.origin.startswith("http://127.0.0.1:")
    with pytest.raises(ValueError, match="loopback only"):
        ParityServer({"/": Path(".")}, host="0.0.0.0")


def test_serves_page_with_isolation_headers(server):
    status, headers, body = request(server, "GET", "/")
    assert (status, body) == (200, b"<p>page</p>")
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"


def test_wasm_is_served_as_application_wasm(server):
    status, headers, _ = request(server, "GET", "/vendor/lib.wasm")
    assert status == 200 and headers["Content-Type"] == "application/wasm"


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/vendor/../../secret.txt",
        "/vendor/%2E%2E/%2E%2E/secret.txt",
        "/escape",  # a symlink pointing out of the root
        "/..%2fsecret.txt",
        "/%00index.html",
    ],
)
def test_nothing_outside_the_roots(server, path):
    status, _, body = request(server, "GET", path)
    assert 400 <= status < 500
    assert b"outside every root" not in body


def test_upload_with_token_is_stored(server):
    data = np.array([1.5, -2.0], np.float32).tobytes()
    status, _, _ = request(server, "POST", "/upload/run1/x", data, upload_headers(server))
    assert status == 200
    got = server.uploads.take("run1/x")
    np.testing.assert_array_equal(got.to_numpy(), [1.5, -2.0])


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"X-Parity-Token": "guess"}, 403),
        ({"Origin": "http://evil.example"}, 403),
        ({"X-Parity-Shape": "3"}, 400),  # 8 bytes cannot be 3 float32
        ({"X-Parity-Dtype": "float64"}, 400),
    ],
)
def test_bad_uploads_are_refused(server, change, status):
    data = np.zeros(2, np.float32).tobytes()
    got, _, body = request(server, "POST", "/upload/run1/x", data, upload_headers(server, **change))
    assert got == status, body
    assert server.uploads.take("run1/x") is None


def test_upload_without_token_header_is_refused(server):
    headers = upload_headers(server)
    del headers["X-Parity-Token"]
    status, _, _ = request(server, "POST", "/upload/run1/x", b"\0" * 8, headers)
    assert status == 403


def test_upload_over_the_cap_is_refused(server):
    headers = upload_headers(server, **{"X-Parity-Shape": "512"})
    status, _, body = request(server, "POST", "/upload/big", b"\0" * 2048, headers)
    assert status == 413 and b"upload cap of 1024" in body


def test_inputs_need_the_token(server):
    server.offer_inputs("case1", {"x": np.arange(3, dtype=np.uint16)})
    assert request(server, "GET", "/input/case1")[0] == 403
    status, _, body = request(
        server, "GET", "/input/case1", headers={"X-Parity-Token": server.token}
    )
    assert status == 200
    assert unpack(body)["x"].to_numpy().tolist() == [0, 1, 2]


def test_a_bundle_upload_stores_each_tensor(server):
    body = pack({"a": encode(np.array([1.5], np.float32)), "b": encode(np.array([True, False]))})
    headers = upload_headers(server, **{"X-Parity-Dtype": "bundle"})
    status, _, _ = request(server, "POST", "/upload/run2", body, headers)
    assert status == 200
    assert server.uploads.take("run2/a").to_numpy().tolist() == [1.5]
    assert server.uploads.take("run2/b").to_numpy().tolist() == [True, False]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x01", b"shorter than its header length"),
        (b"\xff\x00\x00\x00[]", b"does not fit"),
        (b"\x04\x00\x00\x00{}  ", b"must be a list"),
        (b"\x18\x00\x00\x00" + b'[{"name": "a"}]'.ljust(24), b"lacks name/dtype"),
    ],
)
def test_malformed_bundles_are_refused(server, body, message):
    headers = upload_headers(server, **{"X-Parity-Dtype": "bundle"})
    status, _, reply = request(server, "POST", "/upload/run3", body, headers)
    assert status == 400 and message in reply


def test_bundle_entries_must_fit_their_declared_size():
    blob = bytearray(pack({"a": encode(np.zeros(4, np.float32))}))
    with pytest.raises(WireFormatError, match="lies outside the bundle"):
        unpack(bytes(blob[:-4]))


def test_an_install_without_the_page_says_where_it_looked(monkeypatch, tmp_path):
    """A plain (non-editable) install has no web/ beside the package: a clear stop, not a 404."""
    from harness.core import paths
    from harness.runtimes.driver import BrowserUnavailable
    from harness.runtimes.page_assets import web_mounts

    monkeypatch.setattr(paths, "PAGE", tmp_path / "web" / "page")
    with pytest.raises(BrowserUnavailable, match="set TFJS_PARITY_HOME=CHECKOUT"):
        web_mounts()


def test_only_its_own_host_names_are_answered(server):
    """DNS rebinding: a page on evil.example whose name resolves to 127.0.0.1 sends
    `Host: evil.example:PORT`; it gets neither the page, nor inputs, nor uploads."""
    port = server.origin.rsplit(":", 1)[1]
    for host in (f"evil.example:{port}", "127.0.0.1", f"127.0.0.1.evil.example:{port}", ""):
        status, _, body = request(server, "GET", "/", host_header=host)
        assert status == 421 and b"own host name" in body, host
        status, _, _ = request(
            server, "POST", "/upload/r/s", b"\0" * 8, upload_headers(server), host_header=host
        )
        assert status == 421, host
    assert server.uploads.take("r/s") is None
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}"):
        assert request(server, "GET", "/", host_header=host)[0] == 200, host


def test_a_favicon_request_is_no_error(server):
    status, _, body = request(server, "GET", "/favicon.ico")
    assert (status, body) == (204, b"")


def test_a_second_host_header_or_an_absolute_target_is_refused(server):
    """Two Host headers (RFC 9112: refuse) or a request target naming its own authority
    (`GET http://evil/`): neither is answered as this server's own."""
    port = server.origin.rsplit(":", 1)[1]
    host, _ = server.origin.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.putrequest("GET", "/", skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", f"127.0.0.1:{port}")
    conn.putheader("Host", "evil.example")
    conn.endheaders()
    assert conn.getresponse().status == 421
    assert request(server, "GET", "http://evil.example/")[0] == 421
