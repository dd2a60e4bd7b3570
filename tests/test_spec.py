"""Pipeline specs: defaults per side, and errors that name the bad path."""

import numpy as np
import pytest

from harness.orchestrate.suite import bundled_pipeline
from harness.specs.params import PipelineSpecError
from harness.specs.spec import parse


def spec(*steps: dict, **extra) -> dict:
    return {"name": "p", "steps": list(steps), **extra}


RESIZE = {"op": "resize", "params": {"size": [224, 224]}}


def test_each_side_gets_its_own_defaults():
    step = parse(spec(RESIZE)).steps[0]
    assert step.python["impl"] == "skimage" and step.python["order"] == 1
    assert step.python["mode"] == "reflect" and step.python["anti_aliasing"] is None
    # TF.js's own defaults are the legacy TF1 grid
    assert step.js == {
        "size": [224, 224],
        "method": "bilinear",
        "align_corners": False,
        "half_pixel_centers": False,
        "antialias": None,
    }


def test_side_settings_override_common_params():
    step = parse(spec({**RESIZE, "js": {"size": [100, 100], "method": "nearest"}})).steps[0]
    assert step.js["size"] == [100, 100] and step.js["method"] == "nearest"
    assert step.python["size"] == [224, 224]


def test_case_parameters_are_resolved_per_case():
    step = parse(spec({"op": "normalize", "params": {"mean": "$mean", "std": "$std"}})).steps[0]
    assert step.settings("js", {"mean": 1.5, "std": 2.0}) == {"mean": 1.5, "std": 2.0}
    with pytest.raises(PipelineSpecError, match=r"\$std names a case parameter"):
        step.settings("python", {"mean": 1.5})


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (spec({"op": "blur"}), r"steps\[0\]\.op: 'blur' is not in the catalogue"),
        (spec({**RESIZE, "js": {"method": "bicubic"}}), r"js\.method: 'bicubic' is not one of"),
        (spec({**RESIZE, "python": {"colour": 1}}), r"unknown setting\(s\) colour"),
        (spec({"op": "resize"}), r"python\.size: required"),
        (spec({**RESIZE, "params": {"size": [224]}}), r"size: must have 2 entries"),
        (spec({"op": "normalize", "params": {"mean": 0, "std": 0}}), r"std: must be > 0"),
        (
            spec({**RESIZE, "python": {"impl": "tf", "order": 0}}),
            r"order do not apply to impl='tf'",
        ),
        (
            spec({**RESIZE, "python": {"method": "nearest"}}),
            r"method do not apply to impl='skimage'",
        ),
        (spec(RESIZE, RESIZE), r"stage names must be unique"),
        (spec({**RESIZE, "name": "input"}), r"stage names must be unique"),
        (spec({**RESIZE, "name": "a/b"}), r"a step.s name holds no ./."),
        (
            spec(RESIZE, expect={"divergences": {"tile": {"class": "semantic", "max_abs": 1}}}),
            r"expect\.divergences\.tile: 'tile' is not a stage",
        ),
        (
            spec(RESIZE, expect={"first_divergence": "resize"}),
            r"expect\.first_divergence is no longer read: it excused every stage after",
        ),
        (
            spec(RESIZE, expect={"divergences": {"resize": {"class": "semantic"}}}),
            r"divergences\.resize: needs max_abs, .*without a bound would excuse any error",
        ),
        (
            spec(RESIZE, expect={"divergences": {"resize": {"class": "odd", "max_abs": 1}}}),
            r"divergences\.resize\.class: 'odd' is not one of float32, float16, semantic",
        ),
        (
            spec(RESIZE, expect={"divergences": {"resize": {"class": "semantic", "max_abs": -1}}}),
            r"divergences\.resize\.max_abs: must be a finite non-negative number",
        ),
        ({"steps": [RESIZE]}, r"pipeline\.name: required"),
        (spec(), r"steps: required, a non-empty list"),
        (spec(RESIZE, colour=1), r"unknown key\(s\) colour"),
    ],
)
def test_bad_specs_fail_naming_the_path(doc, message):
    with pytest.raises(PipelineSpecError, match=message):
        parse(doc)


def test_bundled_pipelines_load_and_differ_only_where_documented():
    seed, matched = bundled_pipeline("seed"), bundled_pipeline("seed-matched")
    assert (
        seed.stage_names
        == matched.stage_names
        == ("input", "normalize", "resize", "tile", "expand_dims")
    )
    assert list(seed.expect) == ["resize"]
    assert (seed.expect["resize"].error_class, seed.expect["resize"].max_abs) == ("semantic", 0.5)
    assert matched.expect == {}
    assert [s.python for s in seed.steps] == [s.python for s in matched.steps]
    assert seed.steps[1].js["method"] == "nearest"
    assert matched.steps[1].js["antialias"] == "skimage"


def test_model_format_follows_the_source_unless_given(tmp_path):
    (tmp_path / "m.h5").write_bytes(b"x")
    (tmp_path / "saved").mkdir()
    source = str(tmp_path / "p.json")
    keras = parse(spec({"op": "model", "params": {"path": "m.h5"}}), source).steps[0]
    assert keras.python["format"] == keras.js["format"] == "layers"
    saved = parse(spec({"op": "model", "params": {"path": "saved"}}), source).steps[0]
    assert saved.python["format"] == "graph"
    with pytest.raises(PipelineSpecError, match="SavedModel directory, which converts to a Graph"):
        parse(spec({"op": "model", "params": {"path": "saved", "format": "layers"}}), source)
    with pytest.raises(PipelineSpecError, match=r"steps\[0\].js.tfjs_model: no model.json in"):
        parse(spec({"op": "model", "params": {"path": "m.h5"}, "js": {"tfjs_model": "."}}), source)
    with pytest.raises(PipelineSpecError, match="both sides run the same format"):
        parse(spec({"op": "model", "params": {"path": "m.h5"}, "js": {"format": "graph"}}), source)


def test_with_model_puts_the_users_model_after_the_preprocessing(fixtures_dir, tmp_path):
    from harness.orchestrate.suite import SuiteError, with_model

    model = fixtures_dir / "models" / "xray_mobilenetv2.h5"
    suite = with_model(fixtures_dir / "pipelines" / "seed-matched-model.json", model)
    [pipeline] = suite.pipelines
    assert [s.op for s in pipeline.steps].count("model") == 1  # its own model step replaced
    assert pipeline.steps[-1].python["path"] == str(model.resolve())
    alone = with_model(None, model, input_shape=(2, 224, 224, 3), samples=2)
    first = alone.cases[0].load()
    assert first.input.shape == (2, 224, 224, 3) and first.input.dtype == "float32"
    assert np.array_equal(first.input, alone.cases[0].load().input)  # seeded: same bytes
    with pytest.raises(SuiteError, match="not a suite"):
        with_model(fixtures_dir / "suites" / "default.json", model)
    with pytest.raises(SuiteError, match="give no pipeline with them"):
        with_model(fixtures_dir / "pipelines" / "seed.json", model, input_shape=(1, 2))
