"""Backend variants: `backend[:option...]`, e.g. `webgl:f16`, each a TF.js backend plus flags."""

from __future__ import annotations

from dataclasses import dataclass

BROWSERS = ("chromium",)  # Firefox and WebKitGTK over WebDriver come later
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


def parse_variant(text: str) -> Variant:
    backend, *options = text.strip().split(":")
    if backend not in BACKENDS:
        raise ValueError(
            f"unknown backend {backend!r} in {text!r}; backends: {', '.join(BACKENDS)}"
        )
    flags: dict[str, bool] = {}
    for option in options:
        if option not in OPTIONS[backend]:
            known = ", ".join(OPTIONS[backend]) or "none"
            raise ValueError(
                f"unknown option {option!r} for {backend} in {text!r}; options: {known}"
            )
        flags.update(OPTIONS[backend][option])
    return Variant(name=text.strip(), backend=backend, flags=flags)
