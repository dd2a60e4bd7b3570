"""One launched browser: its pages, one per backend variant, opened on first use and kept for
reuse; each page proves, when it starts, that TF.js runs the backend it asked for."""

from __future__ import annotations

import time

from harness.runtimes.browser import BackendInfo, BackendPage, BackendUnavailable, with_console
from harness.runtimes.driver import Driver, Page, PageError
from harness.runtimes.server import ParityServer
from harness.specs.variants import Variant, parse_variant

WASM_PATHS = "/vendor/tfjs-backend-wasm/dist/"


class BrowserSession:
    """One launched browser; pages are opened lazily per variant and kept for reuse."""

    def __init__(self, driver: Driver, server: ParityServer) -> None:
        self.driver = driver
        self.server = server
        self._pages: dict[str, BackendPage] = {}
        self._failed: dict[str, BackendInfo] = {}

    def page(self, variant: str) -> BackendPage:
        """The ready page for `variant`; raises BackendUnavailable with the reason otherwise."""
        if variant in self._pages:
            return self._pages[variant]
        if variant in self._failed:
            raise BackendUnavailable(self._failed[variant])
        page = self._open(parse_variant(variant))
        if page.info.status != "ok":
            self._failed[variant] = page.info
            page.close()
            raise BackendUnavailable(page.info)
        self._pages[variant] = page
        return page

    def known_variants(self) -> list[str]:
        return [*self._pages, *self._failed]

    def forget(self, variant: str) -> None:
        """Drop a page that died (hang, crash) so the next use opens a fresh one."""
        page = self._pages.pop(variant, None)
        if page:
            page.close()

    def probe(self, variant: str) -> BackendInfo:
        try:
            return self.page(variant).info
        except BackendUnavailable as e:
            return e.info

    def _open(self, variant: Variant) -> BackendPage:
        t0 = time.perf_counter()
        page = self.driver.open_page(f"{self.server.origin}/index.html")
        info = start_backend(page, variant, self.server.token)
        info.init_seconds = time.perf_counter() - t0
        return BackendPage(page, info, self.server)

    def close(self) -> None:
        for variant in list(self._pages):
            self.forget(variant)


def start_backend(page: Page, variant: Variant, token: str) -> BackendInfo:
    """Ask the page for `variant` and check that TF.js really runs it (no silent fallback)."""
    info = BackendInfo(variant=variant.name, requested=variant.backend, flags=variant.flags)
    args = {
        "backend": variant.backend,
        "flags": variant.flags,
        "token": token,
        "wasmPaths": WASM_PATHS,
    }
    try:
        answer = page.evaluate("args => window.parity.init(args)", args, timeout=60)
    except PageError as e:
        info.status = "error"
        info.reason = with_console(f"page failed to start: {e}", e.console)
        return info
    info.active = answer["active"]
    info.flags = answer["flags"]
    info.capabilities = answer["capabilities"]
    if answer.get("unsupported"):  # this browser lacks the backend: nothing fell back
        info.status = "skipped"
        info.reason = f"{variant.backend} is not available in this browser: {answer['unsupported']}"
    elif not answer["accepted"] or answer["active"] != variant.backend:
        info.status = "error"
        why = answer["error"] or "tf.setBackend returned false"
        info.reason = with_console(
            f"asked for {variant.backend} but TF.js is running {answer['active']} "
            f"(silent fallback refused): {why}",
            page.console,
        )
    return info
