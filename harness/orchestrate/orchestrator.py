"""One harness session: the loopback server, the browsers, cached Python references, timings.

Both the CLI and the pytest plugin run everything through `Harness.run`, so a parity test and
`tfjs-parity run` reach the same verdict for the same (pipeline, case, browser, backend).
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import functools
import hashlib
import json
import platform
import threading
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness import dicom
from harness.compare.budget import Terms
from harness.compare.classifier import classifier_outputs
from harness.compare.expectations import judge
from harness.compare.metrics import Tolerance
from harness.compare.stages import compare_run, coverage, fold_layers, unjudged
from harness.compare.tolerance import Override, policy
from harness.conversion import models
from harness.core import paths, tf_runtime, versions
from harness.core.outputs import DEFAULT_MAX_STAGE_MB, RuntimeOutput, StageFailure
from harness.core.results import RunResult
from harness.diagnose.run import diagnose_steps
from harness.diagnose.settings import hints_for
from harness.dicom import codecs
from harness.ops.tf_models import (
    ends_in_softmax,
    model_layer_ops,
    model_parts,
    unisolated,
)
from harness.orchestrate import tapped
from harness.runtimes import page_assets, python_ref
from harness.runtimes.browser import (
    BackendInfo,
    BackendPage,
    BackendUnavailable,
    BrowserSession,
    with_console,
)
from harness.runtimes.driver import BrowserUnavailable, ChromiumDriver, Driver, PageError
from harness.runtimes.pulled import PulledStages
from harness.runtimes.server import ParityServer
from harness.specs.cases import Case
from harness.specs.code_pipeline import CodePipeline
from harness.specs.params import PipelineSpecError
from harness.specs.spec import INPUT_STAGE, Pipeline
from harness.specs.variants import parse_variant

MB = 1 << 20


class Timings:
    """Where the time goes, summed per phase (over pages working in parallel, too)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t0)

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self.seconds[name] += seconds


DEFAULT_TIMEOUT = 120.0  # seconds a step may take on each side, unless told otherwise


def launch(browser: str) -> Driver:
    if browser == "chromium":
        return ChromiumDriver()
    raise BrowserUnavailable(f"browser {browser!r} is not supported yet (supported: chromium)")


class Harness:
    """Use as a context manager; browsers start on first use and stay up until exit."""

    def __init__(
        self,
        isolated: bool = True,
        repeat: bool = True,
        overrides: Sequence[Override] = (),
        hints: bool = True,
        min_coverage: float | None = None,
        timeout: float | None = None,
        max_stage_mb: float | None = None,
    ) -> None:
        """`isolated`: also run each JS stage on Python's input to it (own vs inherited error);
        `repeat`: run each chained run twice and report whether the two are bitwise identical;
        `overrides`: tolerance overrides from the command line; `hints`: for stages that
        differ in semantics, search the Python op's settings for the one TF.js matches;
        `min_coverage`: the share of each model's layers or nodes a run must compare (0..1),
        over the pipeline's own `min_coverage`; `timeout`: seconds each step (or the code
        between two taps) may take on each side, over the pipeline's own `timeout` (default
        DEFAULT_TIMEOUT); `max_stage_mb`: the largest stage read back from a page (default
        DEFAULT_MAX_STAGE_MB), a larger one is an error of its stage."""
        if max_stage_mb is not None and not 0 < max_stage_mb < float("inf"):
            raise ValueError(f"max_stage_mb {max_stage_mb!r}: a number of megabytes > 0")
        self.max_stage_mb = max_stage_mb or DEFAULT_MAX_STAGE_MB
        self.min_coverage = min_coverage
        self.isolated = isolated
        self.repeat = repeat
        self.overrides = tuple(overrides)
        self.hints = hints
        self.timeout = timeout
        self._session_lock = threading.RLock()
        self._closed = False  # set on exit: no browser starts after it
        self.restarts: dict[str, int] = {}  # browser -> how many times it died and was restarted
        # browser -> pages found broken between runs (no run was on them): variant and why
        self.replaced: dict[str, list[dict[str, str]]] = {}
        self._reference_mb = paths.reference_cache_mb()  # ValueError: a bad setting, said
        paths.check_cache()
        self.timings = Timings()
        self._server: ParityServer | None = None
        self._sessions: dict[str, BrowserSession] = {}
        self._unavailable: dict[str, str] = {}
        self._references: collections.OrderedDict[str, RuntimeOutput] = collections.OrderedDict()
        self._reference_lock = threading.Lock()
        self._terms: dict[str, dict[str, Terms]] = {}
        self._hints: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        self._hint_lock = threading.Lock()

    def __enter__(self) -> Harness:
        self._server = ParityServer(page_assets.web_mounts()).start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        # Ctrl-C or SIGTERM: no page-by-page goodbye (a busy page takes its time); closing the
        # browser ends every page and every call in flight at once
        stopping = exc_type is not None and not issubclass(exc_type, Exception)
        with self._session_lock:  # no browser is started (or restarted) from here on
            self._closed = True
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            if not stopping:
                session.close()
            session.driver.close(timeout=5.0 if stopping else 30.0, kill=stopping)
        if self._server:
            self._server.stop()

    @property
    def server(self) -> ParityServer:
        if self._server is None:
            raise RuntimeError("use Harness as a context manager")
        return self._server

    def session(self, browser: str) -> BrowserSession:
        """The running browser; raises BrowserUnavailable (remembered) if it cannot start. A
        browser whose process (or Playwright driver) exited is started again, once per death:
        the run that was on it is an error, the runs after it go on."""
        if browser in self._unavailable:
            raise BrowserUnavailable(self._unavailable[browser])
        with self._session_lock:
            if self._closed:
                raise BrowserUnavailable("the harness is closed (the run is stopping)")
            old = self._sessions.get(browser)
            if old is not None and not old.driver.alive:
                self.restarts[browser] = self.restarts.get(browser, 0) + 1
                with contextlib.suppress(Exception):
                    old.driver.close(timeout=5.0)
                del self._sessions[browser]
            if browser not in self._sessions:
                with self.timings.phase("browser_start"):
                    try:
                        self._sessions[browser] = BrowserSession(launch(browser), self.server)
                    except BrowserUnavailable as e:
                        self._unavailable[browser] = str(e)
                        raise
            return self._sessions[browser]

    def backend_page(self, browser: str, variant: str) -> BackendPage:
        """The variant's page, ready: one that lost its GPU context or device, or had its
        backend switched by the page's code (during the last run or since), is replaced by a
        fresh one first, so the fault stays with the case that met it."""
        session = self.session(browser)
        with self.timings.phase("backend_init"):
            page = session.page(variant)
            if page.fault() is not None:
                if not page.reported:  # it broke while idle: no run said it, the report does
                    said = {"variant": variant, "reason": page.broken or ""}
                    self.replaced.setdefault(browser, []).append(said)
                session.forget(variant)
                page = session.page(variant)
        page.max_stage_mb = self.max_stage_mb
        return page

    def reference(self, pipeline: Pipeline, case: Case) -> RuntimeOutput:
        """The Python outputs, computed once per (Python steps, input bytes, case parameters)."""
        return self.cached_reference(
            reference_key(pipeline, case),
            lambda: python_ref.run(pipeline, case, self.step_timeout(pipeline)),
        )

    def cached_reference(self, key: str, compute: Callable[[], RuntimeOutput]) -> RuntimeOutput:
        """`compute()` once per key, kept while the references fit in
        TFJS_PARITY_REFERENCE_CACHE_MB (least
        recently used go first): a model's every layer for every case would otherwise pile up
        over a long suite."""
        with self._reference_lock:
            if key in self._references:
                self._references.move_to_end(key)
                return self._references[key]
        importing = not tf_runtime.loaded()
        with self.timings.phase("python_reference"):
            reference = compute()
        if importing and tf_runtime.loaded():
            # report the import separately: it is the single largest fixed cost
            self.timings.add("python_reference", -tf_runtime.import_seconds)
            self.timings.add("tf_import", tf_runtime.import_seconds)
        with self._reference_lock:
            self._references[key] = reference
            while len(self._references) > 1 and _nbytes(self._references) > self._reference_mb * MB:
                dropped, _ = self._references.popitem(last=False)
                self._terms.pop(dropped, None)
        return reference

    def js_steps(self, pipeline: Pipeline, case: Case) -> list[dict[str, Any]]:
        """The page's steps: JS settings with case values filled in, and for a model step the
        URL of its converted LayersModel (converted once, cached by content)."""
        steps = pipeline.js_steps(case.params)
        for step, spec_step in zip(steps, pipeline.steps, strict=True):
            if spec_step.custom:  # the user's op: its module, served from its folders only
                op = spec_step.custom
                step["module"] = self.server.serve_module(op.js_module, op.serve)
                step["export"] = op.js_export
            if step["op"] == "model":
                with self.timings.phase("model_conversion"):
                    step["params"] = {**step["params"], **page_assets.served_model(step["params"])}
        return steps

    def budgets(self, pipeline: Pipeline, case: Case) -> dict[str, Terms]:
        """Per stage (and model layer), its float terms, from which its own error's budget
        comes (compare/budget.py); once per reference, dropped with it."""
        key = reference_key(pipeline, case)
        with self._reference_lock:
            if key in self._terms:
                return self._terms[key]
        reference = self.reference(pipeline, case)
        with self.timings.phase("budgets"):
            terms = python_ref.terms(pipeline, case, reference, self.step_timeout(pipeline))
        with self._reference_lock:
            if key in self._references:  # kept only while its reference is
                self._terms[key] = terms
        return terms

    def run_many(
        self,
        pipeline: Pipeline | CodePipeline,
        case: Case,
        targets: Sequence[tuple[str, str]],
        unavailable_status: str = "error",
    ) -> list[RunResult]:
        """`run` on several (browser, variant) pages at once, results in the order given.

        Each page is its own renderer process, so the backends compute in parallel on the
        machine's cores; the Python reference is computed once, before."""
        for _, variant in targets:
            parse_variant(variant)
        steps: list[dict[str, Any]] | None = None
        try:
            if isinstance(pipeline, CodePipeline):
                tapped.reference(self, pipeline, case)  # the user's Python, once, here
            else:
                self.reference(pipeline, case)
                self.budgets(pipeline, case)
                # the page's steps once for every page: models converted before the threads
                with contextlib.suppress(models.ConversionError):  # each run reports it
                    steps = self.js_steps(pipeline, case)
        except Exception as e:  # the harness broke on this case: every run says so, none passes
            return [
                _crashed(RunResult(browser=b, backend=v, status="error"), e) for b, v in targets
            ]
        for browser in {b for b, _ in targets}:
            with contextlib.suppress(BrowserUnavailable):  # each run reports it
                self.session(browser)
        pool = concurrent.futures.ThreadPoolExecutor(max(1, len(targets)))
        try:
            futures = [
                pool.submit(self.run, pipeline, case, b, v, unavailable_status, steps)
                for b, v in targets
            ]
            return [f.result() for f in futures]
        except BaseException:  # Ctrl-C, SIGTERM: do not wait for the pages' passes to end;
            pool.shutdown(wait=False, cancel_futures=True)  # closing the browser ends them
            raise
        finally:
            pool.shutdown(wait=False)

    def run(
        self,
        pipeline: Pipeline | CodePipeline,
        case: Case,
        browser: str,
        variant: str,
        unavailable_status: str = "error",
        js_steps: list[dict[str, Any]] | None = None,
    ) -> RunResult:
        """Run one (pipeline, case) on one page and compare every stage with Python.

        A backend or browser that cannot start gives `unavailable_status` (error, or skipped
        when the user did not ask for that backend by name) with the reason. `js_steps`
        replaces what the page runs (default: `js_steps(pipeline, case)`), e.g. to try a
        changed TF.js model against the same Python reference.

        Anything that breaks inside the harness (an exception of its own, not a JS or Python
        failure of the user's steps, which are stage failures) makes this run an error that
        names it; it never passes, and the next run goes on."""
        parse_variant(variant)  # a typo is a usage error, not a skipped run
        result = RunResult(browser=browser, backend=variant, status="ok")
        try:
            return self._run(pipeline, case, result, unavailable_status, js_steps)
        except Exception as e:
            return _crashed(result, e)

    def _run(
        self,
        pipeline: Pipeline | CodePipeline,
        case: Case,
        result: RunResult,
        unavailable_status: str,
        js_steps: list[dict[str, Any]] | None,
    ) -> RunResult:
        browser, variant = result.browser, result.backend
        code = isinstance(pipeline, CodePipeline)
        if code and case.file is None:
            result.status, result.reason = "error", f"case {case.id!r} has no file for the code"
            return result
        reference = (
            tapped.reference(self, pipeline, case) if code else self.reference(pipeline, case)
        )
        try:
            page = self.backend_page(browser, variant)
        except (BrowserUnavailable, BackendUnavailable) as e:
            result.status, result.reason = unavailable_status, str(e)
            return result
        result.precision = page.info.precision
        if code:
            return tapped.run(self, pipeline, case, reference, page, result)
        on_page = functools.partial(self.on_page, browser, variant)
        try:
            js_steps = js_steps if js_steps is not None else self.js_steps(pipeline, case)
        except models.ConversionError as e:
            result.status, result.reason = "error", str(e)
            return result
        limit = self.step_timeout(pipeline)

        def chained_again(before: RuntimeOutput) -> RuntimeOutput:
            """The chained pass once more, on a fresh page and without its repeat: a hang or
            crash in a later pass (repeat, isolated) closed the page, and the chained stages
            it held with it. What `before` learnt of the repeat pass is kept."""
            nonlocal page
            page = self.backend_page(browser, variant)
            out = on_page(lambda: page.run(pipeline, case, js_steps, repeat=False, timeout=limit))
            out.repeat, out.repeat_failure = before.repeat, before.repeat_failure
            return out

        candidate = on_page(
            lambda: page.run(pipeline, case, js_steps, repeat=self.repeat, timeout=limit)
        )
        if candidate.repeat_failure is not None:
            candidate = chained_again(candidate)
        isolated = None
        if self.isolated and not candidate.failures:
            isolated = on_page(
                lambda: page.run_isolated(pipeline, js_steps, reference, timeout=limit)
            )
            if not isinstance(isolated.stages, PulledStages):  # its error stays with its step
                candidate = chained_again(candidate)
        try:
            self._compare(result, pipeline, case, reference, candidate, isolated, page.info)
        finally:  # the page drops what it held for these calls; pulls count as transfer
            for out in (candidate, isolated):
                if out is not None and isinstance(out.stages, PulledStages):
                    out.stages.release()
                    out.timings["transfer"] = out.timings.get("transfer", 0.0) + out.stages.seconds
        result.timings = {k: round(v, 4) for k, v in candidate.timings.items()}
        return result

    def _compare(
        self,
        result: RunResult,
        pipeline: Pipeline,
        case: Case,
        reference: RuntimeOutput,
        candidate: RuntimeOutput,
        isolated: RuntimeOutput | None,
        info: BackendInfo,
    ) -> None:
        """Every stage (and layer) chained and isolated, folded, classified, hinted, into
        `result`; the page's stages are pulled as they are compared."""
        variant = result.backend
        if candidate.repeat is not None:
            result.deterministic, result.repeat_max_abs = candidate.repeat
        pulled = [
            o.stages for o in (candidate, isolated) if o and isinstance(o.stages, PulledStages)
        ]
        before = sum(p.seconds for p in pulled)
        with self.timings.phase("compare"):
            steps = {s.name: s.tolerance for s in pipeline.steps}
            precision = info.precision

            def policy_for(stage: str, dtype: np.dtype) -> Tolerance:
                return policy(dtype, precision, stage, variant, steps.get(stage), self.overrides)

            order = stage_order(pipeline.stage_names, reference)
            result.stages, result.first_divergence = compare_run(
                tuple(order),
                reference,
                candidate,
                policy_for,
                isolated,
                precision,
                self.budgets(pipeline, case),
            )
            pull_seconds = sum(p.seconds for p in pulled) - before
            self.timings.add("compare", -pull_seconds)  # moving bytes is transfer, not compare
        self.timings.add("transfer", pull_seconds)
        layer_ops = {
            s.name: model_layer_ops(s.python["path"], s.python["format"])
            for s in pipeline.steps
            if s.op == "model"
        }
        result.stages, result.first_divergence, result.first_divergent_layer = fold_layers(
            result.stages, result.first_divergence, layer_ops
        )
        minimum = self.min_coverage if self.min_coverage is not None else pipeline.min_coverage
        for stage in result.stages:
            step = next((s for s in pipeline.steps if s.name == stage.name), None)
            if step is not None and step.op == "model":
                fmt = step.python["format"]
                alone = unisolated(step.python["path"]) if fmt == "layers" else {}
                for layer in stage.layers:
                    if layer.name in alone and layer.own_verdict is None:
                        layer.isolated_message = f"not run alone: {alone[layer.name]}"
                stage.coverage = coverage(
                    stage,
                    model_parts(step.python["path"], fmt),
                    "layers" if fmt == "layers" else "nodes",
                )
                if minimum is not None and stage.coverage["share"] < minimum:
                    result.below_coverage.append(
                        f"{stage.name}: {stage.coverage['compared']} of "
                        f"{stage.coverage['total']} {stage.coverage['kind']} compared "
                        f"({stage.coverage['share']:.0%}), below the minimum {minimum:.0%}"
                    )
        decodes = {s.name: s.python["plugin"] for s in pipeline.steps if s.op == "decode"}
        models_ = {s.name: s.python for s in pipeline.steps if s.op == "model"}
        for stage in result.stages:
            js = candidate.stages.get(stage.name) if stage.name in models_ else None
            if isinstance(js, np.ndarray) and stage.name in reference.stages:
                model = models_[stage.name]
                stage.outputs = classifier_outputs(
                    reference.stages[stage.name],
                    js,
                    ends_in_softmax(model["path"], model["format"]),
                )
            if stage.name in decodes and case.file is not None:
                uid, syntax = dicom.transfer_syntax(case.file.tobytes())
                stage.decoding = {
                    "transfer_syntax": syntax,
                    "python": codecs.python_decoder(uid, decodes[stage.name]),
                    "js": codecs.js_decoder(uid),
                }
        if self.hints and isolated is not None:
            with self.timings.phase("hints"):
                self._add_hints(result, pipeline, case, reference, isolated, policy_for)
        if self.hints:
            with self.timings.phase("hints"):
                diagnose_steps(result, pipeline, case, reference, candidate, isolated)
        failures = [f for f in (reference.failure, candidate.failure) if f]
        if candidate.repeat_failure is not None:
            hung = candidate.repeat_failure
            failures.insert(0, dataclasses.replace(hung, stage=f"{hung.stage} (repeat pass)"))
        lost = isolated.failure if isolated is not None else None
        if lost is not None and lost.harness:  # the page died or hung in the isolated run:
            # that first (the chained stages it held, lost with it, fail to be read after)
            result.status = "error"
            result.reason = "; ".join(
                [f"{lost.stage} (isolated run): {lost.message}"]
                + [f"{f.stage}: {f.message}" for f in failures]
            )
        elif failures:
            result.status = "error"
            result.reason = "; ".join(f"{f.stage}: {f.message}" for f in failures)
        elif problem := unjudged(result.stages):
            result.status, result.reason = "error", problem
        judge(result, pipeline.expect)

    def _add_hints(
        self,
        result: RunResult,
        pipeline: Pipeline,
        case: Case,
        reference: RuntimeOutput,
        isolated: RuntimeOutput,
        policy_for: Callable[[str, np.dtype], Tolerance],
    ) -> None:
        """Hints for each stage whose own error is semantic, cached by the JS output's bytes
        (backends that agree with each other get the same hint for free)."""
        steps = {
            s.name: (s, prev) for s, prev in zip(pipeline.steps, pipeline.stage_names, strict=False)
        }
        for stage in result.stages:
            if stage.own_error_class != "semantic" or stage.name not in steps:
                continue
            own = isolated.stages.get(stage.name)  # pulled from the page again: only when needed
            if not isinstance(own, np.ndarray):  # missing, or too large to hold (BlockSource)
                continue
            step, previous = steps[stage.name]
            if previous not in reference.stages:
                continue
            key = (
                reference_key(pipeline, case),
                stage.name,
                hashlib.sha256(own.tobytes()).hexdigest(),
                str(policy_for(stage.name, own.dtype)),
                result.precision,
            )
            with self._hint_lock:
                if key not in self._hints:
                    self._hints[key] = hints_for(
                        step,
                        case.params,
                        reference.stages[previous],
                        own,
                        policy_for(stage.name, own.dtype),
                        result.precision or "float32",
                    )
            stage.hints = self._hints[key]

    def step_timeout(self, pipeline: Pipeline | CodePipeline) -> float:
        """Seconds each step (or the code between two taps) may take on each side."""
        if self.timeout is not None:
            return self.timeout
        return pipeline.timeout if pipeline.timeout is not None else DEFAULT_TIMEOUT

    def on_page(
        self,
        browser: str,
        variant: str,
        call: Callable[[], RuntimeOutput],
        unplaced: str = INPUT_STAGE,
    ) -> RuntimeOutput:
        """Run `call` on the variant's page; a page that crashed or hung is dropped (the next
        use opens a fresh one) and becomes an error of the step it was on (the page's last
        progress mark; `unplaced` when it had said none, or was on a tap of the user's code,
        which the code pipeline places), so the other runs go on."""
        try:
            out = call()
        except PageError as e:
            session = self._sessions.get(browser)
            if session is not None and _browser_gone(session, e):
                sent = e.stages
                e = PageError(
                    f"the browser process exited (or its driver did): {e}; the next run "
                    "starts a new one",
                    console=e.console,
                    at=e.at,
                )
                e.stages = sent
            elif session is not None:
                session.forget(variant)
            kind, _, name = (e.at or "").partition(" ")
            stage = name if kind in ("step", "repeat") else unplaced
            after = name if kind == "tap" else None
            failure = StageFailure(
                stage, with_console(str(e), e.console), harness=True, after=after
            )
            if kind == "repeat":  # the chained pass had finished: not a failure of its stages
                out = RuntimeOutput(dict(e.stages), repeat_failure=failure)
            else:
                out = RuntimeOutput(dict(e.stages), {stage: failure})  # what it sent is compared
        for phase in ("compute", "transfer"):
            self.timings.add(phase, out.timings.get(phase, 0.0))
        return out

    def environment(self) -> dict[str, Any]:
        browsers: dict[str, Any] = {}
        for name, session in self._sessions.items():
            browsers[name] = {
                "version": session.driver.version,
                "backends": {v: _info_dict(session.probe(v)) for v in session.known_variants()},
                "restarts": self.restarts.get(name, 0),  # the browser died and was restarted
                "pages_replaced": self.replaced.get(name, []),  # broken between runs
            }
        for name, reason in self._unavailable.items():
            browsers[name] = {"version": None, "error": reason, "backends": {}}
        return {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "numpy": versions.python("numpy"),
            "scikit-image": versions.python("scikit-image"),
            "pydicom": versions.python("pydicom"),
            "tensorflow": tf_runtime.version(),
            "tensorflowjs": versions.python("tensorflowjs"),
            "tfjs": versions.npm("@tensorflow/tfjs"),
            "reference_device": tf_runtime.describe_device(),
            "browsers": browsers,
        }


def stage_order(stage_names: Sequence[str], reference: RuntimeOutput) -> tuple[str, ...]:
    """The reference's order: pipeline stages with each model's layers before the model, a
    stage that is several tensors right after the last of its parts, then the stages the
    reference did not reach."""
    order: list[str] = []
    after = {p: name for name, parts in reference.composites.items() for p in parts.values()}
    pending = {name: len(parts) for name, parts in reference.composites.items()}
    for name in reference.stages:
        order.append(name)
        owner = after.get(name)
        if owner is not None:
            pending[owner] -= 1
            if pending[owner] == 0:
                order.append(owner)
    order += [n for n in reference.composites if n not in order]
    return (*order, *(n for n in stage_names if n not in order))


def _browser_gone(session: BrowserSession, error: PageError) -> bool:
    """The browser (or its driver) exited: a page closed under the harness ("Target page,
    context or browser has been closed") while its browser's exit is still on its way is
    given two seconds to say so."""
    closed = "closed" in str(error).lower()
    for _ in range(10 if closed else 1):
        if not session.driver.alive:
            return True
        if closed:
            time.sleep(0.2)
    return False


def _crashed(result: RunResult, error: Exception) -> RunResult:
    """`result` as an error that names what broke in the harness and where; the stages it
    had already compared are kept."""
    if isinstance(error, PipelineSpecError):  # the pipeline and this case do not fit: theirs
        result.status, result.reason = "error", f"this case: {error}"
        return result
    result.status, result.reason = "error", harness_error(error)
    return result


def harness_error(error: BaseException) -> str:
    """'harness error: TYPE: message (at file.py:line in function)', the innermost frame."""
    text = f"harness error: {type(error).__name__}: {error}"
    frames = traceback.extract_tb(error.__traceback__)
    if frames:
        text += f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name})"
    return text


def _nbytes(references: collections.OrderedDict[str, RuntimeOutput]) -> int:
    return sum(a.nbytes for r in references.values() for a in r.stages.values())


def reference_key(pipeline: Pipeline, case: Case) -> str:
    """Content, not names: two pipelines called alike, or two files called scan.dcm, differ."""
    h = hashlib.sha256()
    steps = [(s.name, s.op, s.python, s.custom and s.custom.python) for s in pipeline.steps]
    h.update(json.dumps([steps, case.params], sort_keys=True, default=str).encode())
    start = pipeline.input_of(case)
    for name, a in sorted(start.items()) if isinstance(start, dict) else [("", start)]:
        h.update(str((name, a.dtype.str, a.shape)).encode())
        h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()


def _info_dict(info: Any) -> dict[str, Any]:
    return {
        "requested": info.requested,
        "active": info.active,
        "status": info.status,
        "reason": info.reason,
        "flags": info.flags,
        "init_seconds": round(info.init_seconds, 3),
        **info.capabilities,
    }
