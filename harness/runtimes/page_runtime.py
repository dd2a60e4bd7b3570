"""One browser page, running one backend variant, as a runtime."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.core.outputs import INPUT_STAGE, RuntimeOutput, StageFailure
from harness.core.timings import Timings
from harness.runtimes import page_assets, user_python
from harness.runtimes.browser import BackendPage
from harness.runtimes.browsers import Browsers
from harness.runtimes.pulled import PulledStages
from harness.runtimes.runtime import AnyPipeline
from harness.runtimes.server import ParityServer
from harness.specs.cases import Case
from harness.specs.code_pipeline import CodePipeline
from harness.specs.spec import Pipeline
from harness.specs.variants import Side


def page_steps(
    server: ParityServer, pipeline: Pipeline, case: Case, timings: Timings
) -> list[dict[str, Any]]:
    """The page's steps: JS settings with case values filled in; for a custom op the URL of
    its module (served from its own folders only); for a model step the URL of its converted
    LayersModel (converted once, cached by content). Raises conversion.models.ConversionError."""
    steps = pipeline.js_steps(case.params)
    for step, spec_step in zip(steps, pipeline.steps, strict=True):
        if spec_step.custom:
            op = spec_step.custom
            step["module"] = server.serve_module(op.js_module, op.serve)
            step["export"] = op.js_export
        if step["op"] == "model":
            with timings.phase("model_conversion"):
                step["params"] = {**step["params"], **page_assets.served_model(step["params"])}
    return steps


class PageRuntime:
    """`side`'s page (browser x variant) from the session's `browsers`. `js_steps`: what the
    page runs for a step pipeline (`page_steps`); a code pipeline runs the user's module. The
    page's stages stay in it until read: each is pulled as the comparison asks for it."""

    def __init__(
        self, browsers: Browsers, side: Side, js_steps: list[dict[str, Any]] | None = None
    ) -> None:
        if side.browser is None or side.variant is None:
            raise ValueError("a page runtime needs a browser and a backend variant")
        self.side = side
        self.js_steps = js_steps
        self.module_url: str | None = None  # a code pipeline's module, as the page loads it
        self._browsers = browsers
        self._page: BackendPage | None = None

    @property
    def page(self) -> BackendPage:
        if self._page is None:
            raise RuntimeError("open the page runtime first")
        return self._page

    @property
    def precision(self) -> str | None:
        return self.page.info.precision

    def open(self) -> None:
        """The variant's page, ready (a broken one is replaced): called again after a call
        that lost the page, it opens a fresh one."""
        assert self.side.browser is not None and self.side.variant is not None
        self._page = self._browsers.page(self.side.browser, self.side.variant)

    def run(
        self, pipeline: AnyPipeline, case: Case, *, timeout: float, repeat: bool = False
    ) -> RuntimeOutput:
        page = self.page
        if isinstance(pipeline, CodePipeline):
            url = self._browsers.server.serve_module(pipeline.js_module, pipeline.serve)
            self.module_url = url
            return self._call(
                lambda: page.run_code(pipeline, case, url, timeout), user_python.UNPLACED
            )
        steps = self._steps(pipeline, case)
        return self._call(lambda: page.run(pipeline, case, steps, repeat=repeat, timeout=timeout))

    def run_isolated(
        self, pipeline: Pipeline, case: Case, inputs: RuntimeOutput, *, timeout: float
    ) -> RuntimeOutput | None:
        page, steps = self.page, self._steps(pipeline, case)
        return self._call(lambda: page.run_isolated(pipeline, steps, inputs, timeout=timeout))

    def release(self, out: RuntimeOutput) -> None:
        """The page drops what it held for `out`; the time spent pulling counts as transfer."""
        if isinstance(out.stages, PulledStages):
            out.stages.release()
            out.timings["transfer"] = out.timings.get("transfer", 0.0) + out.stages.seconds

    def held(self, out: RuntimeOutput) -> RuntimeOutput:
        """`out` with every stage read into the harness and the page's copy released: what a
        page that is the reference of other pages gives, since they read it in parallel, after
        this call. A stage that cannot be read is a failure of this side at that stage."""
        stages: dict[str, np.ndarray] = {}
        failures = dict(out.failures)
        try:
            for name in list(out.stages):
                value = out.stages.get(name)
                if value is None:
                    continue
                if not isinstance(value, np.ndarray):  # too large to pull whole: its slices
                    blocks = [np.asarray(b) for b in value.blocks()]
                    value = np.concatenate(blocks).reshape(value.shape)
                stages[name] = value
        except Exception as e:  # the page went away while being read
            lost = StageFailure(name, f"could not read it back: {e}", harness=True)
            failures.setdefault(name, lost)
        finally:
            self.release(out)
        for stage, failure in out.failures.items():  # a pull that failed is said by stage
            failures.setdefault(stage, failure)
        return RuntimeOutput(
            stages,
            failures,
            dict(out.timings),
            out.repeat,
            dict(out.composites),
            out.repeat_failure,
        )

    def _steps(self, pipeline: Pipeline, case: Case) -> list[dict[str, Any]]:
        if self.js_steps is None:
            browsers = self._browsers
            self.js_steps = page_steps(browsers.server, pipeline, case, browsers.timings)
        return self.js_steps

    def _call(self, call: Any, unplaced: str = INPUT_STAGE) -> RuntimeOutput:
        assert self.side.browser is not None and self.side.variant is not None
        return self._browsers.call(self.side.browser, self.side.variant, call, unplaced)
