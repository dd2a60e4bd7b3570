"""Element-wise error metrics between a reference and a candidate tensor, in float32 terms.

A float64 reference is legitimate (the user's Python is float64); ULP distances are then counted
from the reference rounded to float32, i.e. from the best answer a float32 runtime could give.
NaN and Inf never pass silently: positions where they disagree are mismatches.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from harness.core.results import Metrics

STATISTICS = ("elementwise", "max", "mean", "median")  # or "quantile:Q", 0 <= Q <= 1


@dataclass(frozen=True)
class Tolerance:
    """A tolerance policy.

    elementwise (default): an element passes when |cand - ref| <= atol + rtol * |ref| (numpy's
    isclose rule) or, given `ulp`, when it is within that many float32 ULPs; the stage passes
    when the share of failing elements is at most `mismatch_fraction`.
    max / mean / median / quantile:Q: that statistic of |cand - ref| and of the relative error;
    the stage fails only when the absolute one exceeds atol AND the relative one exceeds rtol
    (Polygraphy's rule). NaN/Inf disagreements fail whatever the policy."""

    atol: float
    rtol: float
    basis: str  # why these numbers
    ulp: int | None = None
    statistic: str = "elementwise"
    mismatch_fraction: float = 0.0
    explicit: bool = False  # set by the user: it judges the stage's own error, not a budget

    def to_dict(self) -> dict[str, float | str | None]:
        return {
            "explicit": self.explicit,
            "atol": self.atol,
            "rtol": self.rtol,
            "ulp": self.ulp,
            "statistic": self.statistic,
            "mismatch_fraction": self.mismatch_fraction,
            "basis": self.basis,
        }


@runtime_checkable
class BlockSource(Protocol):
    """A candidate too large to hold whole (a page's stage above the size the harness pulls
    at once), read as consecutive flat slices in row-major order."""

    shape: tuple[int, ...]
    dtype: np.dtype
    nbytes: int

    def blocks(self) -> Iterator[np.ndarray]:
        """Flat slices that, one after the other, are the whole tensor; BlockReadError when a
        slice cannot be read."""
        ...


class BlockReadError(RuntimeError):
    """A slice of a BlockSource could not be read (the page that holds it went away)."""


def dtype_family(dtype: np.dtype) -> str:
    return {"f": "float", "i": "integer", "u": "integer", "b": "bool"}.get(dtype.kind, dtype.kind)


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Float32 steps between a and b (both float32), counting across zero (+0 and -0 are equal).
    Returned as float64, which holds every distance (< 2**33) exactly."""
    work = _Work(a.size)
    return _ulps(a.reshape(-1), b.reshape(-1), work).reshape(a.shape).copy()


def _ulps(a: np.ndarray, b: np.ndarray, w: _Work) -> np.ndarray:
    """ULP distances as int64-safe values in w.ulp (float64 holds them exactly).

    Same-sign pairs: the distance is the difference of the raw bit patterns, which fits int32.
    Opposite signs (rare): the two magnitudes' bit patterns added, done in int64."""
    n = a.size
    ia, ib = a.view(np.int32), b.view(np.int32)
    key = np.subtract(ia, ib, out=w.key[:n])  # wraps only for opposite signs, fixed below
    np.abs(key, out=key)
    d = w.ulp[:n]
    d[...] = key
    opposite = np.bitwise_xor(ia, ib, out=w.sign[:n]) < 0
    if opposite.any():
        ma = (ia[opposite] & 0x7FFFFFFF).astype(np.int64)
        mb = (ib[opposite] & 0x7FFFFFFF).astype(np.int64)
        d[opposite] = ma + mb
    return d


TINY = np.finfo(np.float64).tiny
CHUNK = 1 << 16  # elements per block: every pass over a block stays in the CPU cache


class _Work:
    """Scratch buffers for one block, allocated once per comparison: no allocation per block."""

    def __init__(self, n: int) -> None:
        self.diff = np.empty(n)
        self.ref = np.empty(n)
        self.mag = np.empty(n)
        self.bound = np.empty(n)
        self.tmp = np.empty(n)
        self.flag2 = np.empty(n, dtype=bool)
        self.ulp = np.empty(n)
        self.finite = np.empty(n, dtype=bool)
        self.flag = np.empty(n, dtype=bool)
        self.sign = np.empty(n, dtype=np.int32)
        self.key = np.empty(n, dtype=np.int32)
        self.f32 = np.empty(n, dtype=np.float32)
        self.f32b = np.empty(n, dtype=np.float32)


@dataclass
class _Acc:
    """Running reductions over blocks."""

    max_abs: float = 0.0
    worst: int | None = None  # flat index of max_abs
    max_rel: float = 0.0
    max_ulp: int = 0
    mismatched: int = 0
    nonfinite_bad: int = 0
    nonfinite_first: int | None = None  # flat index of the first NaN/Inf disagreement
    min_atol: float = 0.0
    min_rtol: float = 0.0


def compare(reference: np.ndarray, candidate: np.ndarray | BlockSource, tol: Tolerance) -> Metrics:
    """Metrics of candidate against reference; shapes must already agree.

    Works block by block (all metrics in one sweep per block), so large tensors stream through
    the cache instead of making a dozen full-size temporaries; large tensors are split into one
    contiguous span per core (numpy releases the GIL inside each pass). A BlockSource candidate
    is compared slice by slice as it is read, never held whole (a median or quantile policy
    then keeps the finite |differences| and relative errors as float32, 8 bytes an element)."""
    if tuple(reference.shape) != tuple(candidate.shape):
        raise ValueError(f"shapes differ: {reference.shape} vs {candidate.shape}")
    ref = np.ascontiguousarray(reference).reshape(-1)
    total = ref.size
    if total == 0:
        return Metrics(0.0, 0.0, 0, 0.0, True, 0, 0, 0, None, None, None)
    floats = reference.dtype.kind == "f" or candidate.dtype.kind == "f"
    if isinstance(candidate, np.ndarray):
        cand = np.ascontiguousarray(candidate).reshape(-1)
        acc = _accumulate(ref, cand, tol, floats)
        at = {i: float(cand[i]) for i in (acc.worst, acc.nonfinite_first) if i is not None}
        statistics = lambda: _statistics(ref, cand, tol.statistic)  # noqa: E731
    else:
        acc, at, kept = _accumulate_blocks(ref, candidate, tol, floats)
        statistics = lambda: _kept_statistics(kept, tol.statistic)  # noqa: E731
    mismatched = acc.mismatched + acc.nonfinite_bad
    stat_abs = stat_rel = None
    if tol.statistic == "elementwise":
        passed = acc.nonfinite_bad == 0 and mismatched <= tol.mismatch_fraction * total
    else:
        stat_abs, stat_rel = statistics()
        passed = acc.nonfinite_bad == 0 and not (stat_abs > tol.atol and stat_rel > tol.rtol)
    worst = None
    worst_ref = worst_cand = None
    if acc.worst is not None:
        worst = tuple(int(i) for i in np.unravel_index(acc.worst, reference.shape))
        worst_ref, worst_cand = float(ref[acc.worst]), at[acc.worst]
    bad = acc.nonfinite_first
    nonfinite = {}
    if bad is not None:
        nonfinite = {
            "nonfinite_index": tuple(int(i) for i in np.unravel_index(bad, reference.shape)),
            "nonfinite_reference": float(ref[bad]),
            "nonfinite_candidate": at[bad],
        }
    return Metrics(
        max_abs=acc.max_abs,
        max_rel=acc.max_rel,
        max_ulp=acc.max_ulp,
        mismatch_fraction=mismatched / total,
        allclose=mismatched == 0,
        mismatched=mismatched,
        total=total,
        nonfinite_mismatched=acc.nonfinite_bad,
        worst_index=worst,
        worst_reference=worst_ref,
        worst_candidate=worst_cand,
        passed=passed,
        # NaN/Inf where the other side is finite: no tolerance passes that
        min_atol=float("inf") if acc.nonfinite_bad else max(acc.min_atol, 0.0),
        min_rtol=float("inf") if acc.nonfinite_bad else max(acc.min_rtol, 0.0),
        statistic_abs=stat_abs,
        statistic_rel=stat_rel,
        **nonfinite,
    )


def _accumulate(ref: np.ndarray, cand: np.ndarray, tol: Tolerance, floats: bool) -> _Acc:
    """One sweep over two flat arrays of one size, a span per worker."""
    spans = _spans(ref.size)
    if len(spans) == 1:
        return _sweep(ref, cand, spans[0], tol, floats)
    return _merge(list(_pool().map(lambda span: _sweep(ref, cand, span, tol, floats), spans)))


def _accumulate_blocks(
    ref: np.ndarray, source: BlockSource, tol: Tolerance, floats: bool
) -> tuple[_Acc, dict[int, float], list[tuple[np.ndarray, np.ndarray]]]:
    """The sweep over a candidate read slice by slice: the accumulators, the candidate's values
    at the worst and first non-finite elements, and (for a median or quantile policy) each
    slice's finite |differences| and relative errors as float32."""
    accs: list[_Acc] = []
    at: dict[int, float] = {}
    kept: list[tuple[np.ndarray, np.ndarray]] = []
    keep = tol.statistic not in ("elementwise", "max", "mean")
    offset = 0
    for block in source.blocks():
        block = np.ascontiguousarray(block).reshape(-1)
        n = block.size
        if offset + n > ref.size:
            raise BlockReadError(f"the slices hold more than the tensor's {ref.size} elements")
        part = ref[offset : offset + n]
        acc = _accumulate(part, block, tol, floats)
        for field in ("worst", "nonfinite_first"):
            index = getattr(acc, field)
            if index is not None:
                at[offset + index] = float(block[index])
                setattr(acc, field, offset + index)
        accs.append(acc)
        if keep or tol.statistic in ("max", "mean"):
            kept.append(_finite_errors(part, block, keep))
        offset += n
    if offset != ref.size:
        raise BlockReadError(f"the slices hold {offset} of the tensor's {ref.size} elements")
    return _merge(accs), at, kept


def _errors(ref: np.ndarray, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|cand - ref| and the relative error, float64, over the elements where both are finite."""
    r = ref.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.abs(cand.astype(np.float64) - r)
        finite = np.isfinite(d)
        d, mag = d[finite], np.abs(r[finite])
        rel = np.where(d == 0, 0.0, d / mag)
    return d, rel


def _finite_errors(ref: np.ndarray, cand: np.ndarray, keep: bool) -> tuple[np.ndarray, np.ndarray]:
    """The finite |cand - ref| and relative errors of one slice: kept whole as float32 when
    `keep` (a median or quantile needs them all), else reduced to [max, sum, count] each."""
    d, rel = _errors(ref, cand)
    if keep:
        return d.astype(np.float32), rel.astype(np.float32)
    summary = [np.array([v.max(initial=0.0), v.sum(), v.size], dtype=np.float64) for v in (d, rel)]
    return summary[0], summary[1]


def _kept_statistics(
    kept: list[tuple[np.ndarray, np.ndarray]], statistic: str
) -> tuple[float, float]:
    """The policy's statistic from the slices' kept errors (_finite_errors)."""
    if statistic in ("max", "mean"):
        out = []
        for i in (0, 1):
            top = max((float(k[i][0]) for k in kept), default=0.0)
            total = sum(float(k[i][1]) for k in kept)
            count = sum(float(k[i][2]) for k in kept)
            out.append(top if statistic == "max" else (total / count if count else 0.0))
        return out[0], out[1]
    d = np.concatenate([k[0] for k in kept]) if kept else np.empty(0, np.float32)
    rel = np.concatenate([k[1] for k in kept]) if kept else np.empty(0, np.float32)
    if d.size == 0:
        return 0.0, 0.0
    q = 0.5 if statistic == "median" else float(statistic.split(":", 1)[1])
    return float(np.quantile(d, q)), float(np.quantile(rel, q))


def _statistics(ref: np.ndarray, cand: np.ndarray, statistic: str) -> tuple[float, float]:
    """The policy's statistic of the absolute and relative errors over finite elements."""
    d, rel = _errors(ref, cand)
    if d.size == 0:
        return 0.0, 0.0
    if statistic == "max":
        return float(d.max()), float(rel.max())
    if statistic == "mean":
        return float(d.mean()), float(rel.mean())
    q = 0.5 if statistic == "median" else float(statistic.split(":", 1)[1])
    return float(np.quantile(d, q)), float(np.quantile(rel, q))


WORKERS = min(4, os.cpu_count() or 1)
_executor: concurrent.futures.ThreadPoolExecutor | None = None


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = concurrent.futures.ThreadPoolExecutor(WORKERS, "compare")
    return _executor


def _spans(total: int) -> list[tuple[int, int]]:
    """One contiguous span per worker, whole blocks each; small tensors stay on one thread."""
    blocks = -(-total // CHUNK)
    parts = min(WORKERS, blocks // 4) or 1
    per = -(-blocks // parts) * CHUNK
    return [(s, min(s + per, total)) for s in range(0, total, per)]


def _sweep(
    ref: np.ndarray, cand: np.ndarray, span: tuple[int, int], tol: Tolerance, floats: bool
) -> _Acc:
    acc = _Acc()
    start, stop = span
    work = _thread_work()
    for s in range(start, stop, CHUNK):
        e = min(s + CHUNK, stop)
        _block(ref[s:e], cand[s:e], s, tol, floats, acc, work)
    return acc


_local = threading.local()


def _thread_work() -> _Work:
    """Each thread keeps its scratch buffers: fresh ones cost page faults on every call."""
    if not hasattr(_local, "work"):
        _local.work = _Work(CHUNK)
    return _local.work


def _merge(accs: list[_Acc]) -> _Acc:
    out = _Acc()
    for a in accs:  # in index order: on a tie the earliest worst element is kept
        if a.worst is not None and (out.worst is None or a.max_abs > out.max_abs):
            out.max_abs, out.worst = a.max_abs, a.worst
        out.max_rel = max(out.max_rel, a.max_rel)
        out.max_ulp = max(out.max_ulp, a.max_ulp)
        out.mismatched += a.mismatched
        out.nonfinite_bad += a.nonfinite_bad
        if out.nonfinite_first is None:
            out.nonfinite_first = a.nonfinite_first
        out.min_atol = max(out.min_atol, a.min_atol)
        out.min_rtol = max(out.min_rtol, a.min_rtol)
    return out


def _block(
    ref: np.ndarray,
    cand: np.ndarray,
    offset: int,
    tol: Tolerance,
    floats: bool,
    acc: _Acc,
    w: _Work,
) -> None:
    n = ref.size
    r = w.ref[:n]
    r[...] = ref
    diff = w.diff[:n]
    with np.errstate(invalid="ignore"):  # inf - inf: handled as non-finite below
        np.subtract(cand, r, out=diff)
    np.abs(diff, out=diff)
    k = int(np.argmax(diff))  # NaN wins argmax, so this also finds non-finite differences
    all_finite = bool(np.isfinite(diff[k]))  # |c - r| is finite exactly when both sides are
    finite = None
    if not all_finite:
        finite = np.isfinite(diff, out=w.finite[:n])
        c = cand.astype(np.float64)
        rr = r
        if ref.dtype == np.float64:  # a float64 past float32's range is Inf in float32
            with np.errstate(over="ignore"):
                rr = ref.astype(np.float32).astype(np.float64)
        same = (rr == c) | (np.isnan(rr) & np.isnan(c))  # the same Inf, or NaN on both sides
        disagree = np.flatnonzero(~finite & ~same)
        acc.nonfinite_bad += disagree.size
        if disagree.size and acc.nonfinite_first is None:
            acc.nonfinite_first = offset + int(disagree[0])
        diff[~finite] = 0.0  # left out of the finite metrics below
        r[~finite] = 0.0
        k = int(np.argmax(diff))
    mag = np.abs(r, out=w.mag[:n])
    if diff[k] > acc.max_abs or (acc.worst is None and (finite is None or finite[k])):
        acc.max_abs, acc.worst = float(diff[k]), offset + k
    bound = np.multiply(mag, tol.rtol, out=w.bound[:n])
    bound += tol.atol
    excess = np.subtract(diff, bound, out=w.tmp[:n])  # > 0: outside atol + rtol * |ref|
    acc.min_atol = max(acc.min_atol, float(excess.max()) + tol.atol)
    flag = np.greater(excess, 0, out=w.flag[:n])
    if floats:
        a = ref if ref.dtype == np.float32 else _to_f32(ref, w.f32[:n])
        b = cand if cand.dtype == np.float32 else _to_f32(cand, w.f32b[:n])
        ulps = _ulps(a, b, w)
        if finite is not None:
            ulps[~finite] = 0.0
        acc.max_ulp = max(acc.max_ulp, int(ulps.max()))
        if tol.ulp is not None:
            flag &= np.greater(ulps, tol.ulp, out=w.flag2[:n])
    else:
        acc.max_ulp = max(acc.max_ulp, int(diff.max()))
    acc.mismatched += int(np.count_nonzero(flag))
    _relative(diff, mag, tol, acc, w)


def _relative(diff: np.ndarray, mag: np.ndarray, tol: Tolerance, acc: _Acc, w: _Work) -> None:
    """max_rel, and the smallest rtol (at the policy's atol) every element would pass."""
    n = diff.size
    denominator = np.maximum(mag, TINY, out=w.bound[:n])  # 0 / tiny = 0
    with np.errstate(over="ignore"):  # a huge quotient over a tiny |ref|: inf is right
        rel = np.divide(diff, denominator, out=w.tmp[:n])
        top = float(rel.max())
    if top > 1e200:  # only a difference over an exact zero gets this large: look closer
        zeros = mag == 0
        if (diff[zeros] > 0).any():
            acc.max_rel = float("inf")
        if (diff[zeros] > tol.atol).any():
            acc.min_rtol = float("inf")
        top = float(rel[~zeros].max()) if (~zeros).any() else 0.0
    acc.max_rel = max(acc.max_rel, top)
    over = np.greater(diff, tol.atol, out=w.flag2[:n])
    if acc.min_rtol != float("inf") and over.any():  # only elements beyond atol need rtol
        need = (diff[over] - tol.atol) / mag[over]
        acc.min_rtol = max(acc.min_rtol, float(need.max()))


def _to_f32(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        out[...] = x
    return out
