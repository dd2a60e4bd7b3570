"""The catalogue of known divergences: one entry per mechanism, as data, with the test of its
evidence (images.py, numbers.py)."""

from __future__ import annotations

from harness.diagnose.known.backend_entries import BACKEND_ENTRIES
from harness.diagnose.known.images import (
    _antialias_shrink,
    _batch_norm_training,
    _jpeg_idct,
    _premultiplied,
    _resize_grid,
)
from harness.diagnose.known.model import Known
from harness.diagnose.known.numbers import _pipeline_settings
from harness.diagnose.known.scope import ANY, STEPS

CATALOGUE: tuple[Known, ...] = (
    Known(
        id="pipeline-settings",
        title="The pipeline file sets the two sides differently",
        kinds=frozenset({"step", "custom"}),
        ops=ANY,
        backends=ANY,
        dtypes="",
        evidence=_pipeline_settings,
        checks="the step's python and js settings differ in the pipeline file, and Python's op "
        "with the JS values gives the JS output.",
        why="A step's params are overridden in its python or js section with another value, "
        "so the two sides compute different things on purpose.",
        fix_python="give the value once, in the step's params (or the same in both sections).",
        fix_js="the same: one value in the step's params.",
        source="the pipeline file",
        said_as="pipeline file",
    ),
    Known(
        id="resize-grid",
        title="Resize with another sampling grid or method (UpSampling2D bilinear, TF.js's "
        "resize defaults)",
        kinds=STEPS,
        ops=frozenset({"UpSampling2D", "ResizeBilinear", "ResizeNearestNeighbor", "resize"}),
        backends=ANY,
        dtypes="",
        evidence=_resize_grid,
        checks="Python's output is TF's resize of the stage's input with one method and grid, "
        "the JS output with another (bilinear or nearest; half-pixel, legacy or "
        "align-corners), both scaled alike (as they are, /255 or x255).",
        why="TF2's tf.image.resize and Keras's UpSampling2D(interpolation='bilinear') sample "
        "on the half-pixel grid; TF.js's tf.image.resizeBilinear defaults to the legacy TF1 "
        "grid (alignCorners=false, halfPixelCenters=false), and TF.js's UpSampling2D layer "
        "calls it so.",
        fix_python="to compute what TF.js's defaults compute, "
        "tf.compat.v1.image.resize_bilinear(x, size, align_corners=False, "
        "half_pixel_centers=False); for UpSampling2D, interpolation='nearest' agrees on both "
        "sides.",
        fix_js="tf.image.resizeBilinear(x, [h, w], false, true) is TF2's tf.image.resize(x, "
        "[h, w], 'bilinear'); for a converted UpSampling2D, register a replacement layer "
        "(tf.serialization.registerClass of a class whose static className is 'UpSampling2D' "
        "and whose call does that resize) before tf.loadLayersModel.",
        source="tfjs-layers src/layers/convolutional.ts (UpSampling2D.call); "
        "https://github.com/tensorflow/tfjs/issues/4364",
    ),
    Known(
        id="batchnorm-training",
        title="BatchNormalization run in training mode on the Python side",
        kinds=frozenset({"layer"}),
        ops=frozenset({"BatchNormalization"}),
        backends=ANY,
        dtypes="f",
        evidence=_batch_norm_training,
        checks="the layer's input normalised with its own batch statistics gives Python's output, "
        "with the layer's moving statistics the JS output.",
        why="A Keras call with training=True (fixed in the model, or model(x, training=True)) "
        "normalises with the batch's statistics, and each such call also moves the layer's "
        "moving statistics; TF.js's predict() runs in inference mode and uses the moving "
        "statistics saved in the file.",
        fix_python="call the model in inference mode: model(x, training=False) or "
        "model.predict(x); remove training=True from the layer's call in the model code.",
        fix_js="model.predict(x) is right for a trained model; model.apply(x, {training: true}) "
        "would reproduce batch statistics, which an exported model should not use.",
        source="keras BatchNormalization (training argument); tfjs-layers "
        "src/layers/normalization.ts",
    ),
    Known(
        id="jpeg-idct",
        title="JPEG decoders round the inverse DCT differently",
        kinds=frozenset({"tap", "custom", "step"}),
        ops=frozenset({"decode"}),
        backends=ANY,
        dtypes="",
        evidence=_jpeg_idct,
        checks="the case is a JPEG; Python's pixels are one decoder's (TF's default or "
        "INTEGER_ACCURATE IDCT, when TensorFlow is loaded, or Pillow's) and the JS pixels "
        "another's, both mapped alike (as decoded, /255, /127.5 - 1...).",
        why="JPEG's standard lets conforming decoders differ by a grey level per sample (ISO "
        "10918-2); TF's decode_jpeg defaults to libjpeg's fast integer IDCT, the browser "
        "decodes with libjpeg-turbo's accurate IDCT (Chromium), as Pillow does.",
        fix_python="tf.io.decode_jpeg(data, dct_method='INTEGER_ACCURATE'), or Pillow's "
        "np.asarray(Image.open(path).convert('RGB')), decodes as the browser does.",
        fix_js="the browser's decoder cannot be set; to decode as TF's default, decode in JS "
        "with a libjpeg build using the fast IDCT, or ship decoded pixels (PNG).",
        source="tensorflow/core/lib/jpeg/jpeg_mem.cc (dct_method); ISO/IEC 10918-2",
    ),
    Known(
        id="premultiplied-alpha",
        title="The browser premultiplies alpha when an image goes through a canvas",
        kinds=frozenset({"tap", "custom", "step"}),
        ops=frozenset({"decode"}),
        backends=ANY,
        dtypes="",
        evidence=_premultiplied,
        checks="the case is a PNG/WebP with alpha; Python's pixels are the file's; the JS "
        "pixels differ only where alpha < 255, and are either premultiplied (colour x "
        "alpha/255, within a level) or premultiplied and back (transparent ones 0).",
        why="A 2D canvas, and tf.browser.fromPixels of an image element or canvas, store "
        "colour premultiplied by alpha in 8 bits: a fully transparent pixel loses its colour "
        "and a low-alpha one is rounded, while Pillow and tf.io.decode_png keep the file's "
        "values.",
        fix_python="compute what the page computes (the hint gives the formula for the route "
        "seen), or keep the file's straight colours on both sides (the TF.js fix).",
        fix_js="decode without premultiplying: createImageBitmap(blob, {premultiplyAlpha: "
        "'none', colorSpaceConversion: 'none'}) and read it through WebGL "
        "(tf.browser.fromPixels on the webgl backend), or decode the PNG in JS (e.g. the "
        "fast-png package) and build the tensor from its bytes.",
        source="https://github.com/tensorflow/tfjs/issues/1719; HTML canvas spec "
        "(premultiplied alpha)",
    ),
    Known(
        id="antialias-shrink",
        title="Python anti-aliases when shrinking; TF.js's resize does not",
        kinds=STEPS,
        ops=frozenset({"resize", "ResizeBilinear", "ResizeNearestNeighbor"}),
        backends=ANY,
        dtypes="",
        evidence=_antialias_shrink,
        checks="the stage shrinks its input; the JS output is a TF resize of it, Python's an "
        "anti-aliased one (TF's antialias=True when TensorFlow is loaded, scikit-image or "
        "Pillow), both scaled alike.",
        why="scikit-image's resize (anti_aliasing defaults to True when shrinking) and "
        "Pillow's BILINEAR/BICUBIC resize widen the filter to the shrink factor; TF.js's "
        "resizeBilinear and resizeNearestNeighbor sample only the nearest source pixels and "
        "have no anti-aliasing option.",
        fix_python="skimage.transform.resize(x, (h, w), order=1, anti_aliasing=False, "
        "mode='edge', preserve_range=True) or tf.image.resize(x, (h, w), 'bilinear') "
        "computes what tf.image.resizeBilinear(x, [h, w], false, true) computes.",
        fix_js="TF.js has no anti-aliased resize. For an integer factor k, tf.avgPool(x, k, k, "
        "'valid') is an area (box) shrink; otherwise blur first (tf.depthwiseConv2d with a "
        "Gaussian of sigma (k - 1) / 2, scikit-image's choice) and then resizeBilinear(x, "
        "[h, w], false, true): close, not equal (borders are handled differently).",
        source="skimage.transform.resize docs (anti_aliasing); tfjs-core "
        "src/ops/image/resize_bilinear.ts",
    ),
    *BACKEND_ENTRIES,
)
