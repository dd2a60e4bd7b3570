"""The sweep behind the metrics: a reference and a candidate walked block by block (every
metric in one pass per block, scratch buffers allocated once per thread), large tensors split
into one contiguous span per core, and float32 ULP distances counted from the bit patterns."""

from __future__ import annotations

import concurrent.futures
import os
import threading
from dataclasses import dataclass

import numpy as np

from harness.compare.policy import Tolerance


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
class Acc:
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


def accumulate(ref: np.ndarray, cand: np.ndarray, tol: Tolerance, floats: bool) -> Acc:
    """One sweep over two flat arrays of one size, a span per worker."""
    spans = _spans(ref.size)
    if len(spans) == 1:
        return _sweep(ref, cand, spans[0], tol, floats)
    return merge(list(_pool().map(lambda span: _sweep(ref, cand, span, tol, floats), spans)))


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
) -> Acc:
    acc = Acc()
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


def merge(accs: list[Acc]) -> Acc:
    out = Acc()
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
    acc: Acc,
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


def _relative(diff: np.ndarray, mag: np.ndarray, tol: Tolerance, acc: Acc, w: _Work) -> None:
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
