"""Backend variants: `backend[:option...]`, e.g. `webgl:f16`, each a TF.js backend plus flags."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Chromium over Playwright; Firefox (ESR) and WebKit (WebKitGTK's MiniBrowser) over WebDriver
BROWSERS = ("chromium", "firefox", "webkit")
BACKENDS = ("cpu", "wasm", "webgl", "webgpu")
DEFAULT_VARIANTS = ("cpu", "wasm", "webgl", "webgpu")
KNOWN_VARIANTS = (*DEFAULT_VARIANTS, "webgl:f16", "webgl:nocpuforward")

# option -> TF.js environment flags it sets, per backend
OPTIONS: dict[str, dict[str, dict[str, bool]]] = {
    "webgl": {
        "f16": {"WEBGL_FORCE_F16_TEXTURES": True},  # what phones without float32 textures do
        "nocpuforward": {"WEBGL_CPU_FORWARD": False},  # small tensors stay on the GPU too
        "nopack": {"WEBGL_PACK": False},
    },
    "wasm": {
        "nosimd": {"WASM_HAS_SIMD_SUPPORT": False},
        "nothreads": {"WASM_HAS_MULTITHREAD_SUPPORT": False},
    },
    "webgpu": {"nocpuforward": {"WEBGPU_CPU_FORWARD": False}},
    "cpu": {},
}


@dataclass(frozen=True)
class Variant:
    name: str  # as the user wrote it, e.g. "webgl:f16"
    backend: str
    flags: dict[str, bool]

    @property
    def canonical(self) -> str:
        """The name with its options in a fixed order (core.variant_names.canonical)."""
        # imported here: the pytest plugin imports this module in every pytest run
        from harness.core.variant_names import canonical

        return canonical(self.name)


def parse_variant(text: str) -> Variant:
    backend, *options = text.strip().split(":")
    if backend not in BACKENDS:
        raise ValueError(
            f"unknown backend {backend!r} in {text!r}; backends: {', '.join(BACKENDS)}"
        )
    flags: dict[str, bool] = {}
    for i, option in enumerate(options):
        if option in options[:i]:
            raise ValueError(f"option {option!r} given twice in {text!r}")
        if option not in OPTIONS[backend]:
            known = ", ".join(OPTIONS[backend]) or "none"
            raise ValueError(
                f"unknown option {option!r} for {backend} in {text!r}; options: {known}"
            )
        flags.update(OPTIONS[backend][option])
    return Variant(name=text.strip(), backend=backend, flags=flags)


PYTHON = "python"  # the live Python (TensorFlow) reference


@dataclass(frozen=True)
class Side:
    """One side of a comparison: the Python reference, or a page (browser x backend variant).
    `name` is how reports write it: "python", or "chromium:wasm"."""

    browser: str | None  # None: Python
    variant: str | None

    @property
    def name(self) -> str:
        return PYTHON if self.browser is None else f"{self.browser}:{self.variant}"

    @property
    def is_python(self) -> bool:
        return self.browser is None

    def is_page(self, browser: str, variant: str) -> bool:
        """Whether this side is that page, however the variant's options are spelt."""
        return self.browser == browser and parse_variant(variant).canonical == self.variant


def parse_reference(text: str, default_browser: str = "chromium") -> Side:
    """`python` (the default plan), or a page to compare the others with: `wasm`,
    `webgl:f16`, `chromium:wasm` (its variant named canonically). ValueError names what is
    wrong."""
    text = text.strip()
    if text == PYTHON:
        return Side(None, None)
    browser, _, rest = text.partition(":")
    if browser in BROWSERS:
        if not rest:
            raise ValueError(f"reference {text!r}: a browser needs a backend, e.g. {browser}:wasm")
        try:
            return Side(browser, parse_variant(rest).canonical)
        except ValueError as e:
            raise ValueError(f"reference {text!r}: {e}") from None
    try:
        return Side(default_browser, parse_variant(text).canonical)
    except ValueError as e:
        raise ValueError(
            f"reference {text!r}: {PYTHON}, a backend variant, or BROWSER:VARIANT with a browser "
            f"of {', '.join(BROWSERS)}: {e}"
        ) from None


def candidates(
    variants: list[str], reference: Side, browsers: Sequence[str] = ("chromium",)
) -> list[str]:
    """The backends asked for that some browser asked for still compares with `reference`: all
    of them for the Python reference; less the reference page's variant, however it is spelt,
    when its browser is the only one (`chromium:webgl` against Firefox's webgl keeps webgl)."""
    return [v for v in variants if any(not reference.is_page(b, v) for b in browsers)]


def targets(
    browsers: Sequence[str], variants: Sequence[str], reference: Side
) -> list[tuple[str, str]]:
    """Every (browser, variant) asked for, less the reference page itself."""
    return [(b, v) for b in browsers for v in variants if not reference.is_page(b, v)]
