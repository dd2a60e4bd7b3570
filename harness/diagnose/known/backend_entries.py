"""Entries of the catalogue where a TF.js backend computes or stores values differently from TF
(int32 held as float32 on the GPU, float16 textures, float64 indices on cpu, tie breaking on
webgpu, wasm kernels that ignore a dtype, a finite log(0) on webgl): data, with the test of
their evidence in numbers.py."""

from __future__ import annotations

from harness.diagnose.known.model import Known
from harness.diagnose.known.numbers import (
    _argmax_ties,
    _float16_range,
    _int_beyond_f32,
    _log_zero,
    _nearest_f64,
    _wasm_cast_bool,
    _wasm_clip_int,
)
from harness.diagnose.known.scope import ANY, STEPS

BACKEND_ENTRIES: tuple[Known, ...] = (
    Known(
        id="int32-float32-storage",
        title="int32 values above 2^24 rounded on webgl/webgpu",
        kinds=STEPS,
        ops=ANY,
        backends=frozenset({"webgl", "webgpu"}),
        dtypes="iu",
        evidence=_int_beyond_f32,
        checks="the tensor is too large to be CPU-forwarded (128 elements on webgl, 1000 on "
        "webgpu); every differing int32 value is above 2^24, the JS one a float32 value within "
        "one float32 step of Python's, and not all off by one constant (unless each is "
        "Python's rounded to float32).",
        why="TF.js's GPU backends keep and compute int32 tensors as float32, which holds every "
        "integer only up to 2^24 = 16777216; tensors under 128 elements (webgl) or 1000 "
        "(webgpu) whose inputs are still on the CPU are computed on the CPU kernels "
        "(WEBGL_CPU_FORWARD / WEBGPU_CPU_FORWARD), so the same op can be exact on a small "
        "tensor and rounded on a larger one.",
        fix_python="nothing is wrong on the Python side (int32 is exact there).",
        fix_js="keep int32 values below 2^24 on webgl/webgpu (e.g. split an id into high and "
        "low parts of 12 bits), or run those ops on the cpu or wasm backend.",
        source="tfjs-backend-webgl (int32 textures stored as float32); "
        "https://github.com/tensorflow/tfjs/issues/5641",
        proven_by_arrays=False,
        condition="this code computes these int32 values on the GPU backend (not from float32 "
        "values of its own)",
    ),
    Known(
        id="float16-range",
        title="float16 overflow or underflow on a float16 page",
        kinds=STEPS,
        ops=ANY,
        backends=ANY,
        dtypes="f",
        evidence=_float16_range,
        checks="on a float16 page, values are Inf/NaN where Python's are finite and values pass "
        "65504, or 0 where Python's are below 6.1e-05; every other difference within float16 "
        "rounding.",
        why="With WEBGL_FORCE_F16_TEXTURES (as on many phones) values are stored in float16: "
        "beyond 65504 they become Infinity (and Inf - Inf, e.g. in a softmax with a -1e9 mask, "
        "NaN); below 6.1e-05 they lose precision or become 0.",
        fix_python="nothing is wrong on the Python side; to see the page's numbers, "
        "x.astype(np.float16) where the page stores a tensor.",
        fix_js="keep values inside float16's range (a mask of -1e4 instead of -1e9; scale "
        "large inputs down), or require float32 textures: tf.env().set("
        "'WEBGL_FORCE_F16_TEXTURES', false) where the device supports them.",
        source="tfjs-backend-webgl flags (WEBGL_FORCE_F16_TEXTURES); "
        "https://github.com/tensorflow/tfjs/issues/1586",
    ),
    Known(
        id="nearest-float64-index",
        title="tfjs cpu's nearest-neighbour resize picks other source rows on rare rows",
        kinds=STEPS,
        ops=frozenset({"resize", "ResizeNearestNeighbor", "UpSampling2D"}),
        backends=frozenset({"cpu"}),
        dtypes="",
        evidence=_nearest_f64,
        checks="Python's output is TF's nearest resize of the input; the JS output is the "
        "same with source indices computed in float64.",
        why="The cpu backend computes source indices in JavaScript numbers (float64); TF, and "
        "TF.js's wasm, webgl and webgpu backends, in float32, so where (y + 0.5) * scale "
        "rounds across an integer the two pick neighbouring rows.",
        fix_python="nothing is wrong on the Python side (it is TF's kernel).",
        fix_js="run the resize on wasm or webgl, or compute the float32 indices yourself "
        "(Math.fround) and tf.gather rows and columns.",
        source="tfjs-backend-cpu src/kernels/ResizeNearestNeighbor.ts; "
        "tensorflow/core/kernels/image/resize_nearest_neighbor_op.cc",
    ),
    Known(
        id="argmax-ties",
        title="argMax/argMin break ties differently",
        kinds=STEPS,
        ops=frozenset({"ArgMax", "ArgMin", "argmax", "argmin"}),
        backends=frozenset({"webgpu"}),
        dtypes="iu",
        evidence=_argmax_ties,
        checks="along the axis Python reduced, Python's index is the first of the input's "
        "extremes and, at every differing index, the JS one points at a tied extreme too.",
        why="Where several elements share the maximum, numpy and TF return the first; "
        "TF.js's webgpu backend reduces in parallel and may return another of them (cpu, wasm "
        "and webgl return the first).",
        fix_python="nothing is wrong on the Python side (first of the tied maxima).",
        fix_js="make the first maximum win: tf.argMax(tf.equal(x, x.max(-1, true))"
        ".cast('int32').mul(tf.range(n, 0, -1, 'int32')), -1); or break ties before "
        "argMax (they come from quantised or saturated values).",
        source="tfjs-backend-webgpu src/argminmax_webgpu.ts",
    ),
    Known(
        id="wasm-clip-int32",
        title="wasm clipByValue leaves int32 values unclipped",
        kinds=STEPS,
        ops=frozenset({"ClipByValue", "tf.clipByValue"}),
        backends=frozenset({"wasm"}),
        dtypes="iu",
        evidence=_wasm_clip_int,
        checks="every differing value is the input's own, outside the range Python clipped to.",
        why="TF.js 4.22's wasm ClipByValue kernel handles float32 only: on an int32 tensor the "
        "values come back as they went in.",
        fix_python="nothing is wrong on the Python side.",
        fix_js="clip in float32 and cast back: tf.clipByValue(x.toFloat(), lo, hi)"
        ".cast('int32'), or tf.minimum(tf.maximum(x, lo), hi).",
        source="tfjs-backend-wasm src/kernels/ClipByValue.ts",
        proven_by_arrays=False,
        condition="this code calls tf.clipByValue on an int32 tensor here",
    ),
    Known(
        id="wasm-cast-bool",
        title="wasm cast to bool keeps the low byte",
        kinds=STEPS,
        ops=frozenset({"Cast", "cast"}),
        backends=frozenset({"wasm"}),
        dtypes="b",
        evidence=_wasm_cast_bool,
        checks="every JS value is (the input's integer part mod 256) != 0, and every differing "
        "one false on JS and true on Python.",
        why="TF.js 4.22's wasm Cast copies into a bool (Uint8Array) buffer with a typed-array "
        "set, which keeps the low byte of each value's integer part: multiples of 256, and "
        "floats between -1 and 1 such as 0.5, become false.",
        fix_python="nothing is wrong on the Python side.",
        fix_js="compare instead of casting: tf.notEqual(x, 0).",
        source="tfjs-backend-wasm src/kernels/Cast.ts",
        proven_by_arrays=False,
        condition="this code casts to bool here (x.cast('bool') on the wasm backend)",
    ),
    Known(
        id="webgl-log-zero",
        title="log(0) is finite on webgl",
        kinds=STEPS,
        ops=frozenset({"Log", "log"}),
        backends=frozenset({"webgl"}),
        dtypes="f",
        evidence=_log_zero,
        checks="the tensor is too large to be CPU-forwarded (128 elements); every differing value "
        "is -Infinity on Python (the input is 0 there) and on JS between -104 and -80 (the log "
        "of float32's smallest values, where a finite log(0) lands).",
        why="The webgl backend's log shader gives a large finite negative number for 0 on "
        "some GPUs and drivers (SwiftShader here) where IEEE gives -Infinity.",
        fix_python="nothing is wrong on the Python side.",
        fix_js="keep log's argument positive: tf.log(tf.maximum(x, 1e-30)) (and the same on "
        "the Python side, so both agree), or mask zeros explicitly.",
        source="tfjs-backend-webgl src/kernels/Log.ts",
        proven_by_arrays=False,
        condition="this code calls tf.log on zeros here (not on a floor of its own)",
    ),
)
