"""Bring-your-own-code pipelines: the user's Python callable and JS module, each calling
`tap(name, tensor)` where a comparison is wanted; the taps are the stages.

In a pipeline file (JSON, like step pipelines, so one format covers both and other tools can
read it without running the user's code):
    {"name": "my-app",
     "code": {"python": "preprocess.py:preprocess",   # FILE.py:FUNCTION or package.module:FUNCTION
              "js": "web/preprocess.js#preprocess",   # an ES module, #EXPORT (default: default)
              "serve": ["web"]},                      # folders the page may load (default: the
                                                      # module's own folder)
     "tolerance": {"<tap>": {...}},                   # per tap, as a step's tolerance
     "expect": {"divergences": {"<tap>": {"max_abs": 0.5}}},  # specs/expect.py
     "cases": ["scans/*.dcm"]}
Python calls `function(path, tap)` with the case file's path; the page calls
`await function({name, bytes}, tap)` with the file's bytes (an ArrayBuffer).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import importlib
import importlib.machinery
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.compare.expectations import Expectation
from harness.specs.cases import CaseSource
from harness.specs.params import PipelineSpecError


@dataclass(frozen=True)
class CodePipeline:
    name: str
    python: str  # as written: FILE.py:FUNCTION or package.module:FUNCTION
    python_function: Callable[..., Any] = field(compare=False, repr=False)
    js_module: Path
    js_export: str
    serve: tuple[Path, ...]
    tolerance: dict[str, dict[str, Any]] = field(default_factory=dict)  # by tap
    description: str = ""
    expect: dict[str, Expectation] = field(default_factory=dict)  # by tap
    # seconds the code may take between two taps, on each side (None: the run's --timeout)
    timeout: float | None = None
    source: str | None = None
    cases: tuple[CaseSource, ...] = ()
    # the Python function by what it is (callable_identity), for caches
    python_identity: str = ""


@dataclass(frozen=True)
class CustomOp:
    """A user's op usable as a step: `python(x, **settings) -> array` and the JS export
    `(x: tf.Tensor, settings) -> tf.Tensor` (or a Promise of one), registered under one name."""

    name: str
    python: str
    python_function: Callable[..., Any] = field(compare=False, repr=False)
    js_module: Path
    js_export: str
    serve: tuple[Path, ...]
    python_identity: str = ""  # the Python function by what it is (callable_identity)


def parse_code(
    raw: Any, base: Path, where: str
) -> tuple[str, Callable[..., Any], Path, str, tuple[Path, ...], str]:
    """The `code` object (or a custom op's): the Python callable as written and itself
    (imported now, so a typo is reported with the file), the JS module and export, the served
    folders, and the callable's identity (callable_identity)."""
    if not isinstance(raw, dict):
        raise PipelineSpecError(f"{where}: an object with 'python' and 'js'")
    unknown = sorted(set(raw) - {"python", "js", "serve"})
    if unknown:
        raise PipelineSpecError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: js, python, serve"
        )
    for key in ("python", "js"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise PipelineSpecError(f"{where}.{key}: required, a string")
    function, identity = load_callable(raw["python"], base, f"{where}.python")
    module_text, _, export = raw["js"].partition("#")
    module = (base / module_text).resolve()
    if module.suffix not in (".js", ".mjs") or not module.is_file():
        raise PipelineSpecError(f"{where}.js: no ES module (.js or .mjs) at {module}")
    serve_raw = raw.get("serve", [str(Path(module_text).parent)])
    if not isinstance(serve_raw, list) or not all(isinstance(s, str) for s in serve_raw):
        raise PipelineSpecError(f"{where}.serve: a list of folders")
    serve = tuple((base / s).resolve() for s in serve_raw)
    for folder in serve:
        if not folder.is_dir():
            raise PipelineSpecError(f"{where}.serve: no folder {folder}")
    if not any(module.is_relative_to(folder) for folder in serve):
        raise PipelineSpecError(
            f"{where}.js: {module} is outside the served folders ({', '.join(map(str, serve))})"
        )
    return raw["python"], function, module, export or "default", serve, identity


def parse_ops(raw: Any, base: Path, where: str, builtin: set[str]) -> dict[str, CustomOp]:
    """A pipeline file's `ops`: {name: {"python": ..., "js": ..., "serve": [...]}}."""
    if not isinstance(raw, dict):
        raise PipelineSpecError(f"{where}: an object of op name -> {{python, js}}")
    ops = {}
    for name, entry in raw.items():
        if name in builtin:
            raise PipelineSpecError(f"{where}.{name}: the catalogue has an op of that name")
        python, function, module, export, serve, identity = parse_code(
            entry, base, f"{where}.{name}"
        )
        ops[name] = CustomOp(name, python, function, module, export, serve, identity)
    return ops


def check_settings(op: CustomOp, settings: dict[str, Any], where: str) -> None:
    """The settings a custom op's Python function is given: each one it takes, every one it
    needs (its parameters after the input, without defaults)."""
    parameters = list(inspect.signature(op.python_function).parameters.values())[1:]
    if not any(p.kind is p.VAR_KEYWORD for p in parameters):
        names = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        extra = sorted(set(settings) - names)
        if extra:
            raise PipelineSpecError(
                f"{where}: {op.python} takes no setting {', '.join(extra)} "
                f"(it takes: {', '.join(sorted(names)) or 'none'})"
            )
    missing = [
        p.name
        for p in parameters
        if p.default is p.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and p.name not in settings
    ]
    if missing:
        raise PipelineSpecError(f"{where}: {op.python} needs the setting(s) {', '.join(missing)}")


# False while replaying recorded references: the user's Python code is not imported (it may
# import TensorFlow, which a replaying CI image need not have); its functions' identities are
# still computed from their files, as when they were recorded
_IMPORT_USER_PYTHON: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "import_user_python", default=True
)


@contextlib.contextmanager
def without_user_python() -> Iterator[None]:
    """Pipelines read inside this block do not import the user's Python code: each function
    is a stand-in that raises UserPythonNotLoaded, with the identity the real one has."""
    token = _IMPORT_USER_PYTHON.set(False)
    try:
        yield
    finally:
        _IMPORT_USER_PYTHON.reset(token)


class UserPythonNotLoaded(RuntimeError):
    """A stand-in for the user's Python function was called (a replay needs none)."""


def load_callable(text: str, base: Path, where: str) -> tuple[Callable[..., Any], str]:
    """FILE.py:FUNCTION (relative to `base`; its folder is importable, so its sibling modules
    are too) or package.module:FUNCTION; and its identity (`callable_identity`). Inside
    `without_user_python()`, a stand-in function and the same identity, nothing imported."""
    target, sep, attribute = text.rpartition(":")
    if not sep or not target or not attribute:
        raise PipelineSpecError(f"{where}: {text!r} is not FILE.py:FUNCTION or module:FUNCTION")
    path: Path | None = None
    if target.endswith(".py"):
        path = (base / target).resolve()
        if not path.is_file():
            raise PipelineSpecError(f"{where}: no Python file {path}")
    if not _IMPORT_USER_PYTHON.get():
        try:
            origin = path or _module_file(target)
        except (ImportError, ValueError) as e:
            raise PipelineSpecError(f"{where}: cannot find module {target} ({e})") from e
        return _stand_in(text), callable_identity(origin, target, attribute)
    try:
        if path is not None:
            if str(path.parent) not in sys.path:
                sys.path.insert(0, str(path.parent))
            name = f"tfjs_parity_user_{path.stem}_{abs(hash(str(path)))}"
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            sys.modules[name] = module
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            module = importlib.import_module(target)
    except PipelineSpecError:
        raise
    except Exception as e:  # the user's module failed to import: say so with its error
        raise PipelineSpecError(
            f"{where}: importing {target} failed: {type(e).__name__}: {e}"
        ) from e
    function = getattr(module, attribute, None)
    if not callable(function):
        raise PipelineSpecError(f"{where}: {target} has no function {attribute!r}")
    origin = path or (Path(module.__file__) if getattr(module, "__file__", None) else None)
    return function, callable_identity(origin, target, attribute)


def _module_file(target: str) -> Path | None:
    """The file of an importable module, found as Python's path finder finds it but without
    running anything (not even its parent packages' __init__)."""
    parts = target.split(".")
    search: list[str] | None = None
    spec = None
    for i in range(len(parts)):
        spec = importlib.machinery.PathFinder.find_spec(".".join(parts[: i + 1]), search)
        if spec is None:
            raise ImportError(f"no module named {'.'.join(parts[: i + 1])!r}")
        search = list(spec.submodule_search_locations or [])
    assert spec is not None
    return Path(spec.origin) if spec.origin and spec.has_location else None


SKIPPED_FOLDERS = {"__pycache__", "node_modules", "site-packages", "venv"}
MAX_CODE_FILES = 20000


def callable_identity(origin: Path | None, target: str, attribute: str) -> str:
    """A user's function by what it is, the same in any checkout of the same files: the name
    of the file it is an attribute of, a hash of the Python files of its folder and the folders
    below it, symbolic links followed (its sibling modules and subpackages, importable from it;
    left out: hidden folders, __pycache__, node_modules, virtual and conda environments, and
    the harness's own output: report folders and reference stores; line endings as LF, so a
    CRLF checkout is the same code), and the attribute's name. Two pipelines that both say
    "ops.py:scale" over different code, or two lambdas, closures or callable objects of one
    file, are two functions. A module with no file (namespace, built-in) is its name. Files
    the code reads (settings, tables) are not part of it. Raises PipelineSpecError for a
    folder of more than MAX_CODE_FILES Python files (no project's: a home folder, a monorepo's
    root), whose code cannot be told apart from a change."""
    if origin is None or not origin.is_file():
        return f"{target}::{attribute}"
    h = hashlib.sha256(_code(origin))
    for f in _code_files(origin.parent, origin.name):
        if f != origin:
            h.update(f.relative_to(origin.parent).as_posix().encode() + b"\0" + _code(f))
    return f"{origin.name}:{h.hexdigest()}:{attribute}"


def _code(path: Path) -> bytes:
    return path.read_bytes().replace(b"\r\n", b"\n")


def _code_files(folder: Path, name: str) -> list[Path]:
    """The readable .py files under `folder` (see callable_identity), in a stable order."""
    found: list[Path] = []
    seen = {folder.resolve()}
    for here, dirs, files in os.walk(folder, followlinks=True):
        keep = []
        for d in sorted(dirs):
            sub = Path(here) / d
            if d.startswith(".") or d in SKIPPED_FOLDERS or _not_code(sub):
                continue
            real = sub.resolve()
            if real not in seen:  # a link back up would walk for ever
                seen.add(real)
                keep.append(d)
        dirs[:] = keep
        found += [Path(here) / f for f in sorted(files) if f.endswith(".py")]
        if len(found) > MAX_CODE_FILES:
            raise PipelineSpecError(
                f"{folder}: more than {MAX_CODE_FILES} Python files in the folder of {name} and "
                "below: a custom op's or code pipeline's code is told by every .py file there; "
                "put it in a folder of its own"
            )
    return [f for f in found if f.is_file()]  # a dangling link (an editor's lock) is no code


def _not_code(folder: Path) -> bool:
    """An environment (virtual or conda) or the harness's own output (a report folder, a
    repro pack, a reference store)."""
    return (
        (folder / "pyvenv.cfg").exists()
        or (folder / "conda-meta").is_dir()
        or (folder / "report.json").is_file()
        or (folder / "repro.html").is_file()
        or ((folder / "records").is_dir() and not (folder / "records" / "__init__.py").exists())
    )


def _stand_in(text: str) -> Callable[..., Any]:
    def not_loaded(*args: Any, **settings: Any) -> Any:
        raise UserPythonNotLoaded(
            f"{text} is not loaded: pipelines are read without the user's Python code while "
            "recorded references are replayed"
        )

    return not_loaded
