"""A model's inputs when it runs alone (no preprocessing): drawn from a seed, or read from the
user's .npy/.npz files, each of the dtype and shape the model's signature declares.

Both are case sources (cases.CaseSource's `id` and `load()`): a model with one input gets one
array (stage `input`), a model with several gets arrays by input name (stages `input/<name>`).
The signature comes from the converted model's model.json (signatures.signature), so the page
and Python are fed what the model takes: an int32-input model gets int32 values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.conversion import signatures
from harness.specs import cases
from harness.specs.params import PipelineSpecError

# Drawn values when no --input-range is given: floats in [-1, 1); integers in [0, 10) (small
# enough for any embedding's vocabulary and any class index); booleans 0/1.
DEFAULT_RANGE = {"f": (-1.0, 1.0), "i": (0, 10), "u": (0, 10), "b": (0, 2)}


class ModelInputError(PipelineSpecError):
    """Inputs that do not fit the model: which file, which key, what the model takes."""


ShapeOverrides = Mapping[str | None, tuple[int, ...]]  # input name (None: the only input) -> shape


@dataclass(frozen=True)
class ModelSource:
    """The model a run alone feeds: the source the Python side loads (Keras file, SavedModel
    directory) and the format it is compared in; its signature names the inputs."""

    path: Path
    format: str
    tfjs_model: Path | None = None

    def signature(self) -> signatures.Signature:
        from harness.ops.tf_models import model_signature  # TensorFlow: only when loaded

        try:
            return model_signature(str(self.path), self.format)
        except signatures.SignatureError as e:
            raise ModelInputError(f"{self.path}: {e}") from None


@dataclass(frozen=True)
class DrawnInputs:
    """Seeded values for each input: uniform in [low, high) (integers for an integer input),
    of the signature's shape with a free batch size as 1, or of the shape given for it. The
    same bytes on every run."""

    model: ModelSource
    seed: int
    shapes: tuple[tuple[str | None, tuple[int, ...]], ...] = ()
    value_range: tuple[float, float] | None = None

    @property
    def id(self) -> str:
        return f"uniform-seed{self.seed}"

    def load(self) -> cases.Case:
        sig = self.model.signature()
        given = dict(self.shapes)
        names = [p.name for p in sig.inputs]
        if None in given and len(names) > 1:
            raise ModelInputError(
                f"{self.model.path.name} takes {len(names)} inputs ({', '.join(names)}): give "
                "each its shape as --input-shape NAME=N,H,W,C"
            )
        unknown = sorted(n for n in given if n is not None and n not in names)
        if unknown:
            raise ModelInputError(
                f"--input-shape names {', '.join(unknown)}; the model's inputs are "
                f"{', '.join(names)}"
            )
        rng = np.random.default_rng(self.seed)
        values: dict[str, np.ndarray] = {}
        described = []
        for port in sig.inputs:
            shape = given.get(port.name) or given.get(None) or _fixed(port, self.model.path)
            _check_shape(port, shape, f"--input-shape for input {port.name!r}")
            dtype = _numpy_dtype(port, self.model.path)
            low, high = self.value_range or DEFAULT_RANGE[dtype.kind]
            if dtype.kind == "f":
                a = rng.uniform(low, high, shape).astype(dtype)
                what = f"uniform [{low:g}, {high:g})"
            else:
                lo, hi = int(np.ceil(low)), int(np.ceil(high))
                if hi <= lo:
                    raise ModelInputError(
                        f"--input-range {low:g},{high:g} holds no integer for input {port.name!r}"
                    )
                a = rng.integers(lo, hi, shape).astype(dtype)
                what = f"integers in [{lo}, {hi})"
            values[port.name] = a
            described.append(f"{port.name}: {dtype.name} {list(shape)} {what}")
        meta = {"source": f"{self.id}: " + "; ".join(described)}
        return cases.Case(self.id, _one_or_named(values), meta=meta)


@dataclass(frozen=True)
class FileInputs:
    """The user's own input: a .npy (the one input of a model that has one) or a .npz (one
    array per input name; a single array feeds a one-input model whatever its key)."""

    model: ModelSource
    path: Path
    case_id: str

    @property
    def id(self) -> str:
        return self.case_id

    def load(self) -> cases.Case:
        sig = self.model.signature()
        names = [p.name for p in sig.inputs]
        arrays = _read(self.path)
        if len(arrays) == 1 and len(names) == 1:  # one array, one input: whatever its key
            arrays = {names[0]: next(iter(arrays.values()))}
        elif "" in arrays:
            raise ModelInputError(
                f"{self.path}: a .npy holds one array; the model takes {len(names)} inputs "
                f"({', '.join(names)}): give a .npz with one array per input name "
                "(np.savez(f, NAME=array, ...))"
            )
        missing = [n for n in names if n not in arrays]
        extra = sorted(set(arrays) - set(names))
        if missing or extra:
            raise ModelInputError(
                f"{self.path}: the model's inputs are {', '.join(names)}; the file holds "
                f"{', '.join(sorted(arrays)) or 'no array'}"
                + (f" (missing {', '.join(missing)})" if missing else "")
                + (f" (not inputs of the model: {', '.join(extra)})" if extra else "")
                + "; a .npz names each array by input (np.savez(f, NAME=array))"
            )
        values: dict[str, np.ndarray] = {}
        notes = []
        for port in sig.inputs:
            a = arrays[port.name]
            where = f"{self.path}: input {port.name!r}"
            _check_shape(port, a.shape, where)
            values[port.name], note = _as_dtype(a, _numpy_dtype(port, self.model.path), where)
            notes += [note] if note else []
        batches = {k: v.shape[0] for k, v in values.items() if v.ndim}
        if len(set(batches.values())) > 1 or 0 in batches.values():
            raise ModelInputError(
                f"{self.path}: the inputs' batch sizes must be one size of at least 1, are "
                + ", ".join(f"{k}: {b}" for k, b in batches.items())
            )
        meta = {"source": str(self.path), **({"converted": notes} if notes else {})}
        return cases.Case(self.id, _one_or_named(values), meta=meta)


def file_inputs(model: ModelSource, paths: Sequence[Path]) -> list[FileInputs]:
    """One case per file, named as cases.case_ids names files (relative to the folder they
    share)."""
    absolute = [p.absolute() for p in paths]
    ids = cases.case_ids([(p, None) for p in absolute])
    clash = sorted({i for i in ids if ids.count(i) > 1})
    if clash:
        raise ModelInputError(f"--input: the same file is given twice: {', '.join(clash)}")
    return [FileInputs(model, p, i) for p, i in zip(absolute, ids, strict=True)]


def _read(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a .npy ({"": array}) or .npz (by key); ModelInputError if it is neither."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        why = "an array of Python objects" if "pickled" in str(e) else str(e)
        head = path.read_bytes()[:6]
        if not (head.startswith(b"\x93NUMPY") or head.startswith(b"PK\x03\x04")):
            why = "neither NumPy's .npy format nor a .npz archive"
        raise ModelInputError(f"{path}: not a .npy or .npz array file ({why})") from None
    if isinstance(loaded, np.ndarray):
        return {"": loaded}
    with loaded:
        try:
            return {k: loaded[k] for k in loaded.files}
        except (OSError, ValueError) as e:
            raise ModelInputError(f"{path}: an array in it cannot be read ({e})") from None


def _fixed(port: signatures.Port, path: Path) -> tuple[int, ...]:
    """The signature's shape, a free batch size taken as 1; other free sizes need the user."""
    if port.shape is None:
        raise ModelInputError(
            f"{path.name}: input {port.name!r} declares no shape: give --input-shape"
        )
    shape = tuple(1 if i == 0 and d is None else d for i, d in enumerate(port.shape))
    if None in shape:
        raise ModelInputError(
            f"{path.name}: input {port.name!r} has free sizes {list(port.shape)}: give "
            "--input-shape" + (f" {port.name}=..." if port.name else "")
        )
    return tuple(int(d) for d in shape if d is not None)


def _check_shape(port: signatures.Port, shape: Sequence[int], where: str) -> None:
    if port.shape is None:
        return
    fits = len(shape) == len(port.shape) and all(
        d is None or d == s for d, s in zip(port.shape, shape, strict=True)
    )
    if not fits:
        declared = ", ".join("None" if d is None else str(d) for d in port.shape)
        raise ModelInputError(
            f"{where}: shape {list(shape)} does not fit the model's [{declared}] (None: any size)"
        )


def _numpy_dtype(port: signatures.Port, path: Path) -> np.dtype:
    if port.dtype == "string":
        raise ModelInputError(f"{path.name}: input {port.name!r} takes strings: not supported")
    return np.dtype(port.dtype)


def _as_dtype(a: np.ndarray, dtype: np.dtype, where: str) -> tuple[np.ndarray, str | None]:
    """The user's array as the input's dtype, when nothing is lost on the way: float64 ->
    float32 (TF.js has no float64; both sides get the same float32 bytes), integers that fit
    int32 or float32 exactly. Anything else is the user's to decide: an error."""
    if a.dtype == dtype:
        return a, None
    if a.dtype.kind not in "fiub":
        raise ModelInputError(
            f"{where}: {a.dtype} values cannot feed the model's {dtype} input; give {dtype} values"
        )
    converted = a.astype(dtype)
    exact = (a.dtype.kind == "f" and dtype.kind == "f") or np.array_equal(converted, a)
    if not exact or (a.dtype.kind == "f" and dtype.kind in "iub"):
        raise ModelInputError(
            f"{where}: {a.dtype} values do not fit the model's {dtype} input exactly; "
            f"give {dtype} values"
        )
    return converted, f"{where.split(': ', 1)[-1]}: {a.dtype} given, fed as {dtype}"


def _one_or_named(values: dict[str, np.ndarray]) -> np.ndarray | dict[str, np.ndarray]:
    return next(iter(values.values())) if len(values) == 1 else values
