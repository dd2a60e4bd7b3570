"""The built-in op catalogue's settings: each op's parameters on both sides, checked when a
pipeline file is read.

The Python implementations are in harness/ops/catalogue.py, the JS ones in web/page/ops.js, under
the same names (a parity test checks the lists agree). An extension adds ops of its own
(specs/extensions.py), e.g. DICOM's `decode`. Settings are split into `common` (both
sides), `python` and `js`, because the point of the harness is that the two sides are often
configured differently, on purpose or by accident.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.specs.extensions import WithExtensions
from harness.specs.params import (
    Param,
    PipelineSpecError,
    boolean,
    int_list,
    integer,
    number,
    one_of,
    optional,
    positive_number,
    text,
)


@dataclass(frozen=True)
class OpSchema:
    common: Mapping[str, Param]
    python: Mapping[str, Param] = field(default_factory=dict)
    js: Mapping[str, Param] = field(default_factory=dict)
    # Cross-field check of the Python settings: (given, validated, where), raises on conflict.
    check_python: Callable[[Mapping[str, Any], dict, str], None] | None = None


SKIMAGE_ONLY = ("order", "mode", "anti_aliasing", "preserve_range")
TF_ONLY = ("method", "align_corners", "half_pixel_centers", "antialias")


def _check_python_resize(given: Mapping[str, Any], params: dict, where: str) -> None:
    impl = params["impl"]
    foreign = [k for k in (TF_ONLY if impl == "skimage" else SKIMAGE_ONLY) if k in given]
    if foreign:
        raise PipelineSpecError(
            f"{where}: {', '.join(foreign)} do not apply to impl={impl!r} "
            f"({'skimage' if impl == 'tf' else 'tf'} settings)"
        )
    if (
        impl == "tf"
        and params["antialias"]
        and (params["align_corners"] or not params["half_pixel_centers"])
    ):
        raise PipelineSpecError(
            f"{where}: antialias needs tf.image.resize's grid "
            "(align_corners=false, half_pixel_centers=true)"
        )


_RESIZE_METHOD = Param(one_of("nearest", "bilinear"), "bilinear")

BUILT_IN: dict[str, OpSchema] = {
    "normalize": OpSchema(
        common={"mean": Param(number, required=True), "std": Param(positive_number, required=True)},
        python={"precision": Param(one_of("float64", "float32"), "float64")},
    ),
    "resize": OpSchema(
        common={"size": Param(int_list(2, minimum=1), required=True)},
        python={
            "impl": Param(one_of("skimage", "tf"), "skimage"),
            # skimage.transform.resize, with its defaults
            "order": Param(one_of(0, 1, 2, 3, 4, 5), 1),
            "mode": Param(one_of("constant", "edge", "symmetric", "reflect", "wrap"), "reflect"),
            "anti_aliasing": Param(optional(boolean), None),
            "preserve_range": Param(boolean, False),
            # TF's resize kernels, with tf.image.resize's (TF2) defaults
            "method": _RESIZE_METHOD,
            "align_corners": Param(boolean, False),
            "half_pixel_centers": Param(boolean, True),
            "antialias": Param(boolean, False),
        },
        js={
            "method": _RESIZE_METHOD,
            # TF.js defaults: the legacy TF1 grid
            "align_corners": Param(boolean, False),
            "half_pixel_centers": Param(boolean, False),
            # "skimage": the Gaussian prefilter skimage.transform.resize applies when shrinking
            "antialias": Param(optional(one_of("skimage")), None),
        },
        check_python=_check_python_resize,
    ),
    "tile": OpSchema(common={"reps": Param(int_list(minimum=1), required=True)}),
    "expand_dims": OpSchema(common={"axis": Param(integer, 0)}),
    "cast": OpSchema(
        common={"dtype": Param(one_of("float32", "int32", "bool"), required=True)},
        python={"dtype": Param(one_of("float32", "float64", "int32", "uint8", "bool"))},
    ),
    # A model (a .h5/.keras file or a SavedModel directory, relative to the pipeline file): TF
    # in Python, the converted TF.js model in the page. `format` layers (Keras files only) or
    # graph (default for SavedModels); with `layers`, every layer (LayersModel) or computing
    # node (GraphModel) is a stage of its own. `tfjs_model`: the user's own converted TF.js
    # model directory for the page instead of converting `path` here.
    "model": OpSchema(
        common={
            "path": Param(text, required=True),
            "format": Param(optional(one_of("layers", "graph")), None),
            "layers": Param(boolean, True),
        },
        js={"tfjs_model": Param(optional(text), None)},
    ),
}

# The catalogue: the built-in ops, and those the installed extensions add (DICOM's `decode`).
SCHEMAS: Mapping[str, OpSchema] = WithExtensions(BUILT_IN, "ops")
