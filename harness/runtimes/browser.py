"""The TF.js page client: one page per backend variant, reused across cases.

Each page proves the backend it asked for is the one running (TF.js falls back silently
otherwise), and after every run checks that it still is.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.outputs import DEFAULT_MAX_STAGE_MB, RuntimeOutput, StageFailure
from harness.runtimes.driver import Page, PageError
from harness.runtimes.pulled import BATCH_BYTES, PulledStages
from harness.runtimes.server import ParityServer
from harness.runtimes.user_python import UNPLACED
from harness.specs.cases import Case
from harness.specs.code_pipeline import CodePipeline
from harness.specs.spec import Pipeline


@dataclass
class BackendInfo:
    """What `probe` reports for one variant, and why it is unusable when it is."""

    variant: str
    requested: str
    active: str | None = None
    status: str = "ok"  # ok | skipped (the browser lacks it) | error
    reason: str | None = None
    flags: dict[str, Any] = field(default_factory=dict)
    capabilities: dict[str, Any] = field(default_factory=dict)
    init_seconds: float = 0.0

    @property
    def precision(self) -> str:
        return self.capabilities.get("precision", "float32")


class BackendUnavailable(RuntimeError):
    def __init__(self, info: BackendInfo) -> None:
        super().__init__(info.reason)
        self.info = info


class BackendPage:
    """One page running one backend variant. `broken`: what made it unable to run another case
    (a lost WebGL context or WebGPU device, a backend switched by the page's code), as the page
    said it after a run; the harness then replaces the page."""

    def __init__(self, page: Page, info: BackendInfo, server: ParityServer) -> None:
        self.page = page
        self.info = info
        self._server = server
        self.broken: str | None = None
        self.reported = False  # a run's failure said `broken` (else the health check found it)
        self.max_stage_mb = DEFAULT_MAX_STAGE_MB  # the largest stage read back (--max-stage-mb)

    def fault(self) -> str | None:
        """Asks the page, between runs, whether its GPU context or device is still there and its
        backend still the one it proved (the GPU process can die while the page is idle):
        what broke it, or None. A page that cannot answer within 10 s is broken too."""
        if self.broken is None:
            try:
                self.broken = self.page.evaluate("() => window.parity.fault()", timeout=10)
            except PageError as e:
                self.broken = f"the page did not answer a health check: {e}"
        return self.broken

    def run(
        self,
        pipeline: Pipeline,
        case: Case,
        js_steps: list[dict[str, Any]],
        repeat: bool = False,
        timeout: float = 120.0,
    ) -> RuntimeOutput:
        """Chained: every step in order from the case's input, as the user's page would.
        `js_steps`: the page's steps (Harness.js_steps); `repeat`: a second pass compared bit
        for bit in the page (out.repeat)."""
        args = {"steps": js_steps, "repeat": repeat, "eagerBytes": BATCH_BYTES}
        x = pipeline.input_of(case)
        given = {f"input/{k}": v for k, v in x.items()} if isinstance(x, Mapping) else {"input": x}
        passes = 2 if repeat else 1
        answer, out = self._call("run", args, given, timeout, len(js_steps) * passes)
        failure = None
        if answer["failure"]:
            f = answer["failure"]
            failure = (
                self._fault(f["stage"], f["message"])
                if f.get("fault")
                else StageFailure(
                    f["stage"],
                    f"JS exception: {f['message']}",
                    f.get("stack"),
                    # what the step gave back cannot be compared: no numbers to judge
                    harness=bool(f.get("uncomparable")),
                )
            )
        elif self.broken:  # after the last step, in the repeat pass, or a backend switched
            failure = self._fault(pipeline.stage_names[-1], self.broken, "after the last step")
        if failure:
            out.failures[failure.stage] = failure
        d = answer["determinism"]
        if d is not None:
            spread = float("inf") if d["max_abs"] is None else float(d["max_abs"])
            out.repeat = (d["identical"], spread)
        return out

    def run_code(
        self, pipeline: CodePipeline, case: Case, module_url: str, timeout: float = 120.0
    ) -> RuntimeOutput:
        """The user's module on the case's file; its taps are the stages. A failure (module
        that does not load, code that throws) is left unplaced: the runner places it."""
        args = {
            "module": module_url,
            "exportName": pipeline.js_export,
            "fileName": Path(case.meta.get("source", case.id)).name,
        }
        answer, out = self._call("runCode", args, {"file": case.file}, timeout, None)
        f = answer["failure"]
        if f and f.get("fault"):  # placed after the last tap the code reached
            when = "after the code's last tap" if f.get("after") else None
            failure = self._fault(UNPLACED, f["message"], when)
            failure = dataclasses.replace(failure, after=f["lastTap"])
            out.failures[UNPLACED] = failure
        elif f:
            if f.get("loading"):
                message = f"JS module: {f['message']}"
            elif f.get("tap"):  # the code ran; the harness cannot read this tap back
                message = f"the page cannot send {f['message']}"
            else:
                where = f"after tap {f['lastTap']!r}" if f["lastTap"] else "before any tap"
                message = f"JS code ({pipeline.js_module.name}) threw {where}: {f['message']}"
            out.failures[UNPLACED] = StageFailure(
                UNPLACED, message, f.get("stack"), harness=bool(f.get("tap"))
            )
        if self.broken:
            out.failures.setdefault(UNPLACED, self._fault(UNPLACED, self.broken, "after the code"))
        return out

    def run_isolated(
        self,
        pipeline: Pipeline,
        js_steps: list[dict[str, Any]],
        reference: RuntimeOutput,
        timeout: float = 120.0,
    ) -> RuntimeOutput:
        """Each step fed the Python reference's input to that stage: the stage's own error; each
        layer (LayersModel) or node (GraphModel) of a model step, too, fed Python's outputs of
        the layers or nodes it reads.

        A float64 reference input is rounded to float32 on the way (TF.js has no float64)."""
        inputs: dict[str, np.ndarray] = {}
        alone: list[str] = []  # the steps that have their inputs
        page_steps = {s["name"]: s for s in js_steps}
        for step, previous in zip(pipeline.steps, pipeline.stage_names, strict=False):
            x = reference.value(previous)
            if x is None:
                break  # the Python side stopped before this stage (or it is several tensors)
            params = page_steps[step.name]["params"]
            if step.op != "model":
                if isinstance(x, Mapping):
                    break  # the chained run already failed here: nothing to run alone
                inputs[step.name] = _float32(x)
                alone.append(step.name)
                continue
            # a model is fed by input: "<step>/<input node>" (also what its first layers read)
            values = x if isinstance(x, Mapping) else {params["inputs"][0]["name"]: x}
            by_name = {p["name"]: p["node"] for p in params["inputs"]}
            if set(values) != set(by_name):
                break
            inputs.update((f"{step.name}/{by_name[k]}", _float32(v)) for k, v in values.items())
            alone.append(step.name)
            if params["layers"]:  # every layer's Python output, for the layers that read it
                inputs.update(
                    (name, _float32(a))
                    for name, a in reference.stages.items()
                    if name.startswith(f"{step.name}/")
                )
        steps = [s for s in js_steps if s["name"] in alone]
        answer, out = self._call("runIsolated", {"steps": steps}, inputs, timeout, len(steps))
        for f in answer["failures"]:
            out.failures[f["stage"]] = (
                self._fault(f["stage"], f["message"])
                if f.get("fault")
                else StageFailure(f["stage"], f"JS exception: {f['message']}", f.get("stack"))
            )
        if self.broken and not any(f.get("fault") for f in answer["failures"]):
            last = pipeline.stage_names[-1]
            out.failures.setdefault(last, self._fault(last, self.broken, "after the last step"))
        return out

    def _fault(self, stage: str, cause: str, when: str | None = None) -> StageFailure:
        """The page's GPU context or device was lost, or its code switched the backend, while
        `stage` ran (or `when`): an error of the run, never the step's numbers; the page is
        replaced before the next run."""
        self.broken = self.broken or cause
        self.reported = True
        where = when or (f"while step {stage!r} ran" if stage != UNPLACED else "while the code ran")
        return StageFailure(
            stage,
            f"{cause} {where}: this page cannot run another case, the next run gets a fresh one",
            harness=True,
        )

    def _call(
        self,
        method: str,
        args: dict[str, Any],
        inputs: dict[str, np.ndarray],
        timeout: float,
        steps: int | None,
    ) -> tuple[dict[str, Any], RuntimeOutput]:
        """Offer the inputs as one bundle, run `window.parity[method]`; its stages stay in the
        page and are pulled as the comparison reads them (out.stages, a PulledStages).
        `timeout`: seconds for each step (or between taps) the page marks; in all, that for
        each of `steps` and two more (loading, uploads), or for a code pipeline, whose taps
        are not known before, an hour."""
        overall = timeout * (steps + 2) if steps is not None else max(3600.0, timeout * 2)
        run_id = secrets.token_hex(8)
        self._server.offer_inputs(run_id, inputs)
        t0 = time.perf_counter()
        try:
            answer = self.page.evaluate(
                f"args => window.parity.{method}(args)",
                {"runId": run_id, "inputKey": run_id, **args},
                overall,
                step=timeout,
            )
        except PageError as e:  # it died or hung: keep what it had sent (run's first stages)
            sent = self._server.uploads.take_prefix(f"{run_id}/")
            e.stages = {name: item.to_numpy() for name, item in sent.items()}
            raise
        finally:  # JS exceptions are in `answer`
            self._server.withdraw_input(run_id)
        if answer.get("fault"):
            self.broken = self.broken or answer["fault"]
        wall = time.perf_counter() - t0
        compute = sum(answer["timings_ms"]["compute"].values()) / 1000
        out = RuntimeOutput({}, timings={"compute": compute, "transfer": max(0.0, wall - compute)})

        def pull_failed(stage: str, message: str) -> None:
            out.failures.setdefault(stage, StageFailure(stage, message))

        out.stages = PulledStages(
            self.page,
            self._server,
            run_id,
            answer["stages"],
            pull_failed,
            timeout,
            self.max_stage_mb,
        )
        return answer, out

    def close(self) -> None:
        self.page.close()


def _float32(array: np.ndarray) -> np.ndarray:
    """TF.js has no float64: a float64 reference is rounded on the way to the page."""
    return array.astype(np.float32) if array.dtype == np.float64 else array


def with_console(message: str, console: list[str]) -> str:
    """Append the page's warnings and errors, where TF.js says why a backend failed."""
    relevant = [
        line for line in console if line.startswith(("[warning]", "[error]", "[pageerror]"))
    ]
    if not relevant:
        return message
    return message + " | console: " + " / ".join(relevant[-5:])


def hooks_for_tests(page: Page) -> str:
    """Loads web/page/testing.js into `page` (once) and returns the JavaScript expression of its
    hooks, `window.parityTesting`: the harness's own test and benchmark hooks (decodeFile,
    bench.*, upload, difference, ops), which the page users' code runs in does not carry."""
    # imported by a module script of the page itself: imported from the driver's script, it
    # could be a second copy of the page's modules (WebDriver runs scripts in a sandbox of its
    # own in Firefox), without the run's token the page was given
    page.evaluate(
        """async () => {
            if (window.parityTesting) return;
            const s = document.createElement('script');
            s.type = 'module';
            s.textContent = "import { hooks } from '/testing.js'; window.parityTesting = hooks;";
            document.head.appendChild(s);
            for (let i = 0; i < 1000 && !window.parityTesting; i++) {
                await new Promise((r) => setTimeout(r, 10));
            }
            if (!window.parityTesting) throw new Error('/testing.js did not load within 10 s');
        }"""
    )
    return "window.parityTesting"
