"""Small user projects that reproduce each known divergence for real (TF.js 4.22 in Chromium on
the backend where it happens, against numpy, scikit-image, Pillow or TF), and the same project
with the fix the catalogue gives, which must pass with no explanation. Used by
tests/test_parity_known.py and to measure the catalogue (`python -m tests.known_cases`)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).parent.parent
SCAN = REPO / "fixtures" / "dicom" / "synthetic_12bit_signed.dcm"  # any file: ignored


@dataclass(frozen=True)
class KnownCase:
    """A code pipeline: `python` and `js` bodies of run(path, tap) / run({bytes}, tap), the
    catalogue entry it must be explained by (None: a passing control), on `backend`."""

    name: str
    entry: str | None
    backend: str
    python: str
    js: str
    file: str = "scan"  # scan | jpeg | png


PY_HEAD = "import numpy as np\n\n"
JS_HEAD = "import * as tf from '@tensorflow/tfjs';\n\n"


def _ramp_py(shape: tuple[int, ...]) -> str:
    n = int(np.prod(shape))
    i = f"np.arange({n}, dtype=np.float32)"
    return f"({i} % 7 * 1.5 + {i} * 0.25).reshape({list(shape)})"


def _ramp_js(shape: tuple[int, ...]) -> str:
    n = int(np.prod(shape))
    return (
        f"tf.tensor(Float32Array.from({{length: {n}}}, (_, i) => (i % 7) * 1.5 + i * 0.25), "
        f"{list(shape)}, 'float32')"
    )


def _resize_py(method: str, size: tuple[int, int], align: bool, half: bool) -> str:
    return (
        "from harness.ops.tf_resize import resize  # TF's kernel, bit for bit\n"
        f"    y = resize(x, {list(size)}, '{method}', {align}, {half})\n"
    )


# 3000 rows to 299 on the half-pixel grid: row 149's source index rounds across an integer
NEAREST_3000_TO_299 = (
    "x = np.arange(3000, dtype=np.float32).reshape(3000, 1, 1)\n    tap('x', x)\n    "
    + _resize_py("nearest", (299, 1), False, True)
    + "    tap('y', y)",
    "const x = tf.range(0, 3000).reshape([3000, 1, 1]);\n  tap('x', x);\n"
    "  tap('y', tf.image.resizeNearestNeighbor(x, [299, 1], false, true));",
)

CASES: tuple[KnownCase, ...] = (
    KnownCase(
        "resize-legacy-grid",
        "resize-grid",
        "cpu",
        f"x = {_ramp_py((6, 5, 2))}\n    tap('x', x)\n    "
        + _resize_py("bilinear", (9, 7), False, True)
        + "    tap('y', y)",
        f"const x = {_ramp_js((6, 5, 2))};\n  tap('x', x);\n"
        "  tap('y', tf.image.resizeBilinear(x, [9, 7]));",
    ),
    KnownCase(
        "resize-half-pixel (fixed)",
        None,
        "cpu",
        f"x = {_ramp_py((6, 5, 2))}\n    tap('x', x)\n    "
        + _resize_py("bilinear", (9, 7), False, True)
        + "    tap('y', y)",
        f"const x = {_ramp_js((6, 5, 2))};\n  tap('x', x);\n"
        "  tap('y', tf.image.resizeBilinear(x, [9, 7], false, true));",
    ),
    KnownCase(
        "skimage-antialias-shrink",
        "antialias-shrink",
        "wasm",
        f"from skimage.transform import resize\n    x = {_ramp_py((16, 12, 1))}\n"
        "    tap('x', x)\n    tap('y', resize(x, (5, 4), order=1, preserve_range=True)"
        ".astype(np.float32))",
        f"const x = {_ramp_js((16, 12, 1))};\n  tap('x', x);\n"
        "  tap('y', tf.image.resizeBilinear(x, [5, 4], false, true));",
    ),
    KnownCase(
        "skimage-no-antialias (fixed)",
        None,
        "wasm",
        f"from skimage.transform import resize\n    x = {_ramp_py((16, 12, 1))}\n"
        "    tap('x', x)\n    tap('y', resize(x, (5, 4), order=1, anti_aliasing=False, "
        "mode='edge', preserve_range=True).astype(np.float32))",
        f"const x = {_ramp_js((16, 12, 1))};\n  tap('x', x);\n"
        "  tap('y', tf.image.resizeBilinear(x, [5, 4], false, true));",
    ),
    KnownCase(
        "int32-ids-on-webgl",
        "int32-float32-storage",
        "webgl",
        "x = (np.arange(256, dtype=np.int64) * 131071 + 16777000).astype(np.int32)\n"
        "    tap('ids', x)\n    tap('next', x + 1)",
        "const x = tf.tensor1d(Int32Array.from({length: 256}, (_, i) => i * 131071 + 16777000),"
        " 'int32');\n  tap('ids', x);\n  tap('next', x.add(tf.scalar(1, 'int32')));",
    ),
    KnownCase(
        "int32-ids-small (control)",
        None,
        "webgl",
        "x = (np.arange(256, dtype=np.int64) * 3 + 1000).astype(np.int32)\n"
        "    tap('ids', x)\n    tap('next', x + 1)",
        "const x = tf.tensor1d(Int32Array.from({length: 256}, (_, i) => i * 3 + 1000), 'int32');"
        "\n  tap('ids', x);\n  tap('next', x.add(tf.scalar(1, 'int32')));",
    ),
    KnownCase(
        "int32-ids-8-elements (CPU-forwarded, control)",
        None,
        "webgl",
        "x = (np.arange(8, dtype=np.int64) * 131071 + 16777000).astype(np.int32)\n"
        "tap('ids', x)\ntap('next', x + 1)",
        "const x = tf.tensor1d(Int32Array.from({length: 8}, (_, i) => i * 131071 + 16777000),"
        " 'int32');\n  tap('ids', x);\n  tap('next', x.add(tf.scalar(1, 'int32')));",
    ),
    KnownCase(
        "float16-overflow",
        "float16-range",
        "webgl:f16",
        "x = np.linspace(-1000, 60000, 1024, dtype=np.float32)\ntap('x', x)\ntap('y', x * 4)",
        "const x = tf.linspace(-1000, 60000, 1024);\n  tap('x', x);\n  tap('y', x.mul(4));",
    ),
    KnownCase(
        "nearest-rows-on-cpu",
        "nearest-float64-index",
        "cpu",
        *NEAREST_3000_TO_299,
    ),
    KnownCase(
        "nearest-rows-on-wasm (control)",
        None,
        "wasm",
        *NEAREST_3000_TO_299,
    ),
    KnownCase(
        "argmax-ties-on-webgpu",
        "argmax-ties",
        "webgpu",
        "x = (np.arange(256 * 64) % 5 == 0).astype(np.float32).reshape(256, 64)\n"
        "    tap('x', x)\n    tap('arg', np.argmax(x, -1).astype(np.int32))",
        "const x = tf.tensor(Float32Array.from({length: 16384}, (_, i) => i % 5 === 0 ? 1 : 0), "
        "[256, 64]);\n  tap('x', x);\n  tap('arg', tf.argMax(x, -1));",
    ),
    KnownCase(
        "wasm-clip-int32",
        "wasm-clip-int32",
        "wasm",
        "x = (np.arange(512, dtype=np.int32) * 8)\n    tap('x', x)\n"
        "    tap('clipped', np.clip(x, 0, 255))",
        "const x = tf.range(0, 512, 1, 'int32').mul(tf.scalar(8, 'int32'));\n  tap('x', x);\n"
        "  tap('clipped', tf.clipByValue(x, 0, 255));",
    ),
    KnownCase(
        "wasm-clip-float (control)",
        None,
        "wasm",
        "x = (np.arange(512, dtype=np.float32) * 8)\n    tap('x', x)\n"
        "    tap('clipped', np.clip(x, 0, 255))",
        "const x = tf.range(0, 512).mul(8);\n  tap('x', x);\n"
        "  tap('clipped', tf.clipByValue(x, 0, 255));",
    ),
    KnownCase(
        "wasm-cast-bool",
        "wasm-cast-bool",
        "wasm",
        "x = (np.arange(64, dtype=np.int32) * 64)\n    tap('x', x)\n"
        "    tap('mask', x.astype(bool))",
        "const x = tf.range(0, 64, 1, 'int32').mul(tf.scalar(64, 'int32'));\n  tap('x', x);\n"
        "  tap('mask', x.cast('bool'));",
    ),
    KnownCase(
        "webgl-log-zero",
        "webgl-log-zero",
        "webgl",
        "x = (np.arange(300, dtype=np.float32) % 4)\n    tap('x', x)\n    tap('log', np.log(x))",
        "const x = tf.range(0, 300).mod(4);\n  tap('x', x);\n  tap('log', tf.log(x));",
    ),
    KnownCase(
        "jpeg-tf-default",
        "jpeg-idct",
        "cpu",
        "import tensorflow as tf\n    data = path.read_bytes()\n"
        "    tap('pixels', tf.io.decode_jpeg(data, channels=3).numpy())",
        "const bitmap = await createImageBitmap(new Blob([bytes]));\n"
        "  tap('pixels', tf.browser.fromPixels(bitmap, 3));",
        file="jpeg",
    ),
    KnownCase(
        "png-premultiplied",
        "premultiplied-alpha",
        "cpu",
        "from PIL import Image\n    im = Image.open(path).convert('RGBA')\n"
        "    tap('pixels', np.asarray(im)[..., :3])",
        "const bitmap = await createImageBitmap(new Blob([bytes]));\n"
        "  tap('pixels', tf.browser.fromPixels(bitmap, 3));",
        file="png",
    ),
    KnownCase(
        "png-premultiplyAlpha-none-webgl (fixed)",
        None,
        "webgl",
        "from PIL import Image\n    im = Image.open(path).convert('RGBA')\n"
        "    tap('pixels', np.asarray(im)[..., :3])",
        "const bitmap = await createImageBitmap(new Blob([bytes]), "
        "{premultiplyAlpha: 'none', colorSpaceConversion: 'none'});\n"
        "  tap('pixels', tf.browser.fromPixels(bitmap, 3));",
        file="png",
    ),
)


def upsampling(path: Path, interpolation: str) -> None:
    """A Keras model: a 1x1 convolution, then UpSampling2D(2) with `interpolation`."""
    from harness.core import tf_runtime

    k = tf_runtime.keras()
    x = k.Input((5, 6, 2))
    y = k.layers.Conv2D(3, 1, name="mix")(x)
    y = k.layers.UpSampling2D(2, interpolation=interpolation, name="up")(y)
    k.Model(x, y).save(path)


def batch_norm(path: Path, training: bool) -> None:
    """A BatchNormalization layer whose moving statistics are not the batch's; training=True
    fixed in its call when `training`."""
    from harness.core import tf_runtime

    k = tf_runtime.keras()
    x = k.Input((4, 4, 3))
    y = k.layers.Conv2D(3, 1, name="mix")(x)
    layer = k.layers.BatchNormalization(name="bn")
    y = layer(y, training=True) if training else layer(y)
    model = k.Model(x, y)
    gamma, beta, mean, var = [1.5, 0.5, 2.0], [0.1, -0.2, 0.3], [0.4, -1.0, 2.0], [3.0, 0.5, 9.0]
    layer.set_weights([np.array(v, np.float32) for v in (gamma, beta, mean, var)])
    model.save(path)


# (name, builder, entry or None for a control): Keras models run alone on drawn inputs, cpu
LAYER_CASES = (
    ("upsampling-bilinear", lambda p: upsampling(p, "bilinear"), "resize-grid"),
    ("upsampling-nearest (control)", lambda p: upsampling(p, "nearest"), None),
    ("batchnorm-training", lambda p: batch_norm(p, True), "batchnorm-training"),
    ("batchnorm-inference (control)", lambda p: batch_norm(p, False), None),
)


def layer_run(harness, make, root: Path):
    """A Keras model case run alone on cpu."""
    import warnings

    from harness.orchestrate.suite import with_model

    root.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "You are saving your model as an HDF5 file")
        make(root / "model.h5")
    suite = with_model(None, root / "model.h5", samples=1, alone=True)
    return harness.run(suite.pipelines[0], suite.cases[0].load(), "chromium", "cpu")


def first_hints(run) -> list[dict]:
    """The hints of the first divergent stage, or of its first divergent layer."""
    first = next((s for s in run.stages if s.name == run.first_divergence), None)
    if first is not None and run.first_divergent_layer is not None:
        first = next(s for s in first.layers if s.name == run.first_divergent_layer)
    return first.hints if first is not None else []


def jpeg_file(path: Path) -> Path:
    """A 48x40 colour JPEG with texture (quality 70): decoders' IDCT rounding shows."""
    from PIL import Image

    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:48, 0:40]
    img = np.stack([(x * 6 + y * 2) % 256, (y * 5) % 256, (x * y) % 256], -1).astype(np.float64)
    img += rng.normal(0, 12, img.shape)
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=70)
    path.write_bytes(buf.getvalue())
    return path


def png_file(path: Path) -> Path:
    """A 16x16 RGBA PNG: coloured, alpha from 0 (a quarter of the pixels) to 255."""
    from PIL import Image

    y, x = np.mgrid[0:16, 0:16]
    rgb = np.stack([x * 16, y * 16, (x + y) * 8], -1)
    alpha = np.where(x < 4, 0, np.where(x < 8, 3 + y, 255))
    Image.fromarray(np.dstack([rgb, alpha]).astype(np.uint8), "RGBA").save(path)
    return path


def project(case: KnownCase, root: Path) -> Path:
    """The case as a user's project under `root`: user_code.py, web/app.js, parity.json."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "web").mkdir(exist_ok=True)
    body = "\n    ".join(line.strip() for line in case.python.splitlines())  # flat bodies
    (root / "user_code.py").write_text(f"{PY_HEAD}def run(path, tap):\n    {body}\n")
    (root / "web" / "app.js").write_text(
        f"{JS_HEAD}export async function run({{ bytes }}, tap) {{\n  {case.js}\n}}\n"
    )
    file = {"scan": lambda: SCAN, "jpeg": lambda: jpeg_file(root / "case.jpg"),
            "png": lambda: png_file(root / "case.png")}[case.file]()  # fmt: skip
    spec = {
        "name": case.name,
        "code": {"python": "user_code.py:run", "js": "web/app.js#run"},
        "cases": [str(file)],
    }
    (root / "parity.json").write_text(json.dumps(spec))
    return root / "parity.json"


def measure(root: Path, only: list[str] | None = None) -> list[dict[str, object]]:
    """Every case run in Chromium: what the report names at its first divergence."""
    from harness.orchestrate.orchestrator import Harness
    from harness.specs import spec

    rows = []
    with Harness() as harness:
        for i, case in enumerate(CASES):
            if only and not any(o in case.name for o in only):
                continue
            pipeline = spec.load(project(case, root / f"case{i}"))
            run = harness.run(pipeline, pipeline.cases[0].load(), "chromium", case.backend)
            hints = first_hints(run)
            rows.append(
                {
                    "case": case.name,
                    "backend": case.backend,
                    "expected": case.entry,
                    "passed": run.passed,
                    "status": run.status,
                    "first": run.first_divergence,
                    "any_hint": any(st.hints for st in run.stages),
                    "named": [h.get("id") or h["source"] for h in hints],
                    "text": hints[0]["text"] if hints else run.reason,
                }
            )
        for name, make, entry in LAYER_CASES:
            if only and not any(o in name for o in only):
                continue
            run = layer_run(harness, make, root / name.split()[0])
            hints = first_hints(run)
            first = run.first_divergence
            rows.append(
                {
                    "case": name,
                    "backend": "cpu",
                    "expected": entry,
                    "passed": run.passed,
                    "status": run.status,
                    "first": f"{first}/{run.first_divergent_layer}" if first else None,
                    "any_hint": any(st.hints for st in [*run.stages, *run.stages[-1].layers]),
                    "named": [h.get("id") or h["source"] for h in hints],
                    "text": hints[0]["text"] if hints else run.reason,
                }
            )
    return rows


if __name__ == "__main__":
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        rows = measure(Path(tmp), [a for a in sys.argv[1:] if a != "-v"])
    print("| case | backend | expected | result | first divergence | named |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['case']} | {r['backend']} | {r['expected'] or '(control)'} | "
            f"{'PASS' if r['passed'] else r['status'] + ' FAIL'} | {r['first'] or '-'} | "
            f"{', '.join(r['named']) or '-'} |"
        )
    if "-v" in sys.argv:
        for r in rows:
            print(r["case"], "::", r["text"])
