"""The bundled classifier as a pipeline stage, every layer compared (issue 4, first slice)."""

import pytest

from harness.runtimes import tf_runtime


@pytest.mark.parity
def test_parity_model_layers_agree_with_tf(parity_run, assert_parity, fixtures_dir):
    run = parity_run(fixtures_dir / "pipelines" / "seed-matched-model.json", "examples_overlay")
    assert_parity(run)
    layers = [s for s in run.stages if s.name.startswith("model/")]
    tf = tf_runtime.tf()
    keras_model = tf.keras.models.load_model(
        fixtures_dir / "models" / "xray_mobilenetv2.h5", compile=False
    )
    assert [s.name for s in layers] == [f"model/{layer.name}" for layer in keras_model.layers[1:]]
    assert layers[0].name == "model/Conv1" and layers[-1].name == "model/predictions"
    assert all(s.verdict == "pass" for s in layers)
    output = next(s for s in run.stages if s.name == "model")
    assert output.shape == [1, 2] and output.chained["max_abs"] < 1e-6
