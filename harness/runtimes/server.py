"""The harness's loopback HTTP server: the page, TF.js assets, inputs out, stage tensors in.

Security: binds 127.0.0.1 unless told to serve browsers on other machines (`remote`); answers
only requests whose Host header names it (127.0.0.1:PORT or localhost:PORT, and the public URL's
host when one is given), so a page on another site whose name was rebound to it (DNS
rebinding) gets nothing; serves files only from its mounted roots (resolved paths
must stay inside, so `..`, encoded `..` and symlinks out are refused); inputs and uploads need
the run's secret token, and uploads must come from the server's own origin, within a size cap.
COOP/COEP headers make the page cross-origin isolated, which WASM threads need.
"""

from __future__ import annotations

import hashlib
import http.server
import secrets
import socket
import threading
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from harness.core import tensors
from harness.runtimes import shims

MIME = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".bin": "application/octet-stream",
    ".map": "application/json",
    ".dcm": "application/dicom",
}
ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
DEFAULT_UPLOAD_CAP = 1 << 30  # 1 GiB per tensor


class UploadStore:
    """Tensors uploaded by pages, keyed by '<run id>/<stage>', taken once by the runtime."""

    def __init__(self) -> None:
        self._items: dict[str, tensors.WireTensor] = {}
        self._lock = threading.Lock()

    def put(self, key: str, item: tensors.WireTensor) -> None:
        with self._lock:
            self._items[key] = item

    def take(self, key: str) -> tensors.WireTensor | None:
        with self._lock:
            return self._items.pop(key, None)

    def take_prefix(self, prefix: str) -> dict[str, tensors.WireTensor]:
        """Every item whose key starts with `prefix`, by the rest of its key, in upload order."""
        with self._lock:
            keys = [k for k in self._items if k.startswith(prefix)]
            return {k[len(prefix) :]: self._items.pop(k) for k in keys}

    def discard_prefix(self, prefix: str) -> None:
        with self._lock:
            for k in [k for k in self._items if k.startswith(prefix)]:
                del self._items[k]


class ParityServer:
    """Start with `with ParityServer(mounts) as server:`; `server.origin` is the page's origin."""

    def __init__(
        self,
        mounts: Mapping[str, Path],
        host: str = "127.0.0.1",
        port: int = 0,
        upload_cap: int = DEFAULT_UPLOAD_CAP,
        public_url: str | None = None,
        remote: bool = False,
    ) -> None:
        """`public_url`: the origin pages are loaded from (default: the bound address);
        `remote`: bind a non-loopback `host` (ValueError otherwise)."""
        self.mounts = {_mount_prefix(k): Path(v).resolve() for k, v in mounts.items()}
        self.token = secrets.token_urlsafe(24)
        self.uploads = UploadStore()
        self.upload_cap = upload_cap
        self._inputs: dict[str, list[bytes | memoryview]] = {}  # a bundle's buffers, in order
        self.public_url = public_url.rstrip("/") if public_url else None
        self._httpd = _HTTPServer((host, port), _Handler, self, remote)
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        """The pages' origin: the public URL, or the bound address."""
        if self.public_url:
            return self.public_url
        host, port = self._httpd.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def hosts(self) -> frozenset[str]:
        """The Host header values answered: this server's own names with its port, and the
        public URL's host (as browsers send it: without the scheme's default port)."""
        host, port = self._httpd.server_address[:2]
        names = {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}
        if host not in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "::"):
            names.add(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        if self.public_url:
            names.add(urllib.parse.urlsplit(self.public_url).netloc.lower())
        return frozenset(names)

    def start(self) -> ParityServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> ParityServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_module(self, module: Path, folders: Sequence[Path]) -> str:
        """Serve the user's `folders` (those only, each under a prefix of its own) from now on,
        and give the URL of `module`, which is in one of them. The user's modules import TF.js
        through the page's import-map shims: they are written first if they need to be
        (shims.ShimsError says why they cannot)."""
        shims.ensure()
        url = None
        for folder in folders:
            # keyed by the run's secret token too: nobody without it can name the user's
            # folders (their files, cases and earlier reports may sit beside the JS)
            key = hashlib.sha256(f"{self.token}\0{folder}".encode()).hexdigest()[:32]
            prefix = f"/user/{key}/"
            # a new dict, not a change to the one request threads may be reading
            self.mounts = {**self.mounts, prefix: Path(folder).resolve()}
            if url is None and module.is_relative_to(folder):
                url = prefix + module.relative_to(folder).as_posix()
        if url is None:
            raise ValueError(f"{module} is in none of the served folders")
        return url

    def offer_inputs(self, key: str, arrays: Mapping[str, np.ndarray]) -> None:
        """Make `arrays` fetchable by the page as one bundle at /input/<key>."""
        self._inputs[key] = tensors.pack_parts({k: tensors.encode(a) for k, a in arrays.items()})

    def withdraw_input(self, key: str) -> None:
        self._inputs.pop(key, None)

    def resolve(self, url_path: str) -> Path | None:
        """The file a GET path maps to, or None when it is outside every mount."""
        path = urllib.parse.unquote(url_path.split("?", 1)[0])
        if "\0" in path or any(part.startswith(".") for part in path.split("/")):
            return None  # no hidden files (.env, .git), no `..`
        for prefix in sorted(self.mounts, key=len, reverse=True):
            if path.startswith(prefix):
                root = self.mounts[prefix]
                rel = path[len(prefix) :] or "index.html"
                target = (root / rel).resolve()
                if target != root and root not in target.parents:
                    return None
                return target if target.is_file() else None
        return None


def _mount_prefix(prefix: str) -> str:
    return "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type, owner: ParityServer, remote: bool
    ) -> None:
        if address[0] not in ("127.0.0.1", "::1", "localhost") and not remote:
            raise ValueError(f"the parity server listens on loopback only, not {address[0]}")
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.owner = owner
        super().__init__(address, handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small replies must not wait for a delayed ACK

    def log_message(self, format: str, *args: object) -> None:  # quiet: results go to the report
        pass

    # --------------------------------------------------------------------------- GET
    def do_GET(self) -> None:
        owner = self.server.owner
        if not self._host_ok():
            return self._send_text(421, "this server answers only for its own host name")
        if self.path == "/favicon.ico":  # browsers ask for one; none is not an error
            return self._send(204, b"", "image/x-icon", cache=True)
        if self.path.startswith("/input/"):
            if not self._token_ok():
                return self._send_text(403, "missing or wrong run token")
            item = owner._inputs.get(urllib.parse.unquote(self.path[len("/input/") :]))
            if item is None:
                return self._send_text(404, "no such input")
            return self._send_parts(200, item, "application/octet-stream")
        if ".." in urllib.parse.unquote(self.path).split("/"):
            return self._send_text(403, "path traversal refused")
        target = owner.resolve(self.path)
        if target is None:
            return self._send_text(404, "not found")
        mime = MIME.get(target.suffix, "application/octet-stream")
        self._send(200, target.read_bytes(), mime, cache="/vendor/" in self.path)

    # --------------------------------------------------------------------------- POST
    def do_POST(self) -> None:
        owner = self.server.owner
        if not self._host_ok():
            return self._refuse(421, "this server answers only for its own host name")
        if not self.path.startswith("/upload/"):
            return self._refuse(404, "not found")
        if not self._token_ok():
            return self._refuse(403, "missing or wrong run token")
        origin = self.headers.get("Origin")
        if origin is not None and origin != owner.origin:
            return self._refuse(403, f"uploads are accepted only from {owner.origin}")
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            return self._refuse(411, "Content-Length required")
        size = int(length)
        if size > owner.upload_cap:
            return self._refuse(413, f"{size} bytes is over the upload cap of {owner.upload_cap}")
        body = self.rfile.read(size)
        key = urllib.parse.unquote(self.path[len("/upload/") :])
        dtype = self.headers.get("X-Parity-Dtype", "")
        try:
            if dtype == "bundle":  # several tensors: stored as <key>/<name>
                items = tensors.unpack(body)
            else:
                shape = tensors.parse_shape(self.headers.get("X-Parity-Shape", ""))
                items = {"": tensors.WireTensor(dtype, shape, body)}
                tensors.decode(dtype, shape, body)  # checks dtype, shape and byte count agree
        except tensors.WireFormatError as e:
            return self._send_text(400, str(e))
        for name, item in items.items():
            owner.uploads.put(f"{key}/{name}" if name else key, item)
        self._send_text(200, "ok")

    # --------------------------------------------------------------------------- helpers
    def _host_ok(self) -> bool:
        """One Host header naming this server, and a request target that is a path (an
        absolute-form target names its own authority, which would win: refused)."""
        hosts = self.headers.get_all("Host") or []
        if len(hosts) != 1 or not self.path.startswith("/"):
            return False
        return hosts[0].lower() in self.server.owner.hosts

    def _token_ok(self) -> bool:
        given = self.headers.get("X-Parity-Token", "")
        return secrets.compare_digest(given, self.server.owner.token)

    def _refuse(self, status: int, message: str) -> None:
        # The body was not read: close the connection rather than leave it mid-request.
        self.close_connection = True
        self._send_text(status, message)

    def _send_text(self, status: int, message: str) -> None:
        self._send(status, message.encode(), "text/plain; charset=utf-8", cache=False)

    def _send(self, status: int, body: bytes, mime: str, cache: bool) -> None:
        self._send_parts(status, [body], mime, cache)

    def _send_parts(
        self, status: int, parts: list[bytes | memoryview], mime: str, cache: bool = False
    ) -> None:
        """One response whose body is `parts` one after the other, written without joining
        them (an input bundle holds views of the reference's arrays)."""
        self.send_response(status)
        self.send_header("Content-Type", mime)
        self.send_header("Content-Length", str(sum(memoryview(p).nbytes for p in parts)))
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        for k, v in ISOLATION_HEADERS.items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        for part in parts:
            self.wfile.write(part)
