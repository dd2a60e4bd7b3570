"""Serve this folder on http://localhost:8000 (or the port given) with the cross-origin
isolation headers the harness's page is served with, so the wasm backend can use threads as it
did in the harness's run: `python3 serve.py [PORT]`."""

import http.server
import sys
from functools import partial
from pathlib import Path


class Isolated(http.server.SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    handler = partial(Isolated, directory=str(Path(__file__).parent))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        print(f"serving {Path(__file__).parent} on http://localhost:{port}/repro.html", flush=True)
        server.serve_forever()
