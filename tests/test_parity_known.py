"""Each known divergence reproduced for real in Chromium (TF.js 4.22 on the backend where it
happens) and named at the stage where it shows; each passing control has no explanation."""

import numpy as np
import pytest

from harness.pipeline import spec
from harness.report.terminal import outcome
from harness.runtimes import tf_runtime
from harness.suite import with_model
from tests.known_cases import CASES, project

pytestmark = [
    pytest.mark.parity,
    pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file"),
]


def first_hints(run):
    first = next((s for s in run.stages if s.name == run.first_divergence), None)
    if first is not None and run.first_divergent_layer is not None:
        first = next(s for s in first.layers if s.name == run.first_divergent_layer)
    return first.hints if first is not None else []


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_parity_known_divergence_is_named(parity_harness, tmp_path, case):
    pipeline = spec.load(project(case, tmp_path))
    run = parity_harness.run(pipeline, pipeline.cases[0].load(), "chromium", case.backend)
    assert run.status == "ok", run.reason
    if case.entry is None:
        assert run.passed, outcome(run)
        assert all(not s.hints for s in run.stages)
        return
    assert not run.passed
    hints = first_hints(run)
    assert [h.get("id") for h in hints] == [case.entry], hints
    assert hints[0]["source"] == "known divergence" and hints[0]["fix"]["js"]


def upsampling(path, interpolation):
    k = tf_runtime.keras()
    x = k.Input((5, 6, 2))
    y = k.layers.Conv2D(3, 1, name="mix")(x)
    y = k.layers.UpSampling2D(2, interpolation=interpolation, name="up")(y)
    k.Model(x, y).save(path)


def batch_norm(path, training):
    """A BatchNormalization layer whose moving statistics are not the batch's; `training`
    fixed in its call when given."""
    k = tf_runtime.keras()
    x = k.Input((4, 4, 3))
    y = k.layers.Conv2D(3, 1, name="mix")(x)
    layer = k.layers.BatchNormalization(name="bn")
    y = layer(y, training=True) if training else layer(y)
    model = k.Model(x, y)
    gamma, beta, mean, var = [1.5, 0.5, 2.0], [0.1, -0.2, 0.3], [0.4, -1.0, 2.0], [3.0, 0.5, 9.0]
    layer.set_weights([np.array(v, np.float32) for v in (gamma, beta, mean, var)])
    model.save(path)


@pytest.mark.parametrize(
    "make, entry",
    [
        (lambda p: upsampling(p, "bilinear"), "resize-grid"),
        (lambda p: upsampling(p, "nearest"), None),
        (lambda p: batch_norm(p, True), "batchnorm-training"),
        (lambda p: batch_norm(p, False), None),
    ],
    ids=["upsampling-bilinear", "upsampling-nearest", "bn-training", "bn-inference"],
)
def test_parity_known_divergence_of_a_keras_layer_is_named(parity_harness, tmp_path, make, entry):
    path = tmp_path / "model.h5"
    make(path)
    suite = with_model(None, path, samples=1, alone=True)
    run = parity_harness.run(suite.pipelines[0], suite.cases[0].load(), "chromium", "cpu")
    if entry is None:
        assert run.passed and not first_hints(run), outcome(run)
        assert all(not s.hints for s in run.stages[-1].layers)
        return
    assert run.first_divergent_layer in ("up", "bn"), outcome(run)
    assert [h.get("id") for h in first_hints(run)] == [entry]
