"""A page's stages are pulled a batch at a time as they are compared, then released."""

import numpy as np
import pytest

from harness.orchestrate.suite import bundled_case, bundled_pipeline
from harness.runtimes import pulled

pytestmark = pytest.mark.parity


@pytest.fixture
def model_run(parity_harness, fixtures_dir):
    pipeline = bundled_pipeline(fixtures_dir / "pipelines" / "seed-matched-model.json")
    case = bundled_case("examples_overlay")
    page = parity_harness.backend_page("chromium", "wasm")
    steps = parity_harness.js_steps(pipeline, case)
    return lambda: page.run(pipeline, case, steps)


def test_parity_the_harness_holds_one_batch_not_a_whole_run(model_run, monkeypatch):
    monkeypatch.setattr(pulled, "BATCH_BYTES", 1 << 20)
    out = model_run()
    stages = out.stages
    assert isinstance(stages, pulled.PulledStages)
    assert list(stages)[:2] == ["input", "normalize"] and "model/Conv1" in stages
    sizes = {name: stages[name].nbytes for name in stages}  # each read once, in order
    assert sum(sizes.values()) > 30e6  # every layer of the model came through
    assert stages.peak_bytes <= max(1 << 20, max(sizes.values()))
    again = stages["model"]  # read again: pulled again, same values
    assert again.shape == (1, 2) and np.isfinite(again).all()
    stages.release()


def test_parity_a_released_call_reads_as_missing_with_the_reason(model_run):
    out = model_run()
    first = out.stages["input"]
    out.stages.release()
    assert first.size and out.stages.get("model") is None
    [failure] = out.failures.values()
    assert failure.stage == "model"
    assert "no stages are held" in failure.message
