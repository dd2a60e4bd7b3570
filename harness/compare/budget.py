"""Float budgets: how far a stage's own error may go before float arithmetic no longer explains it.

A stage's own error (its JS op fed Python's input) is judged against a per-element budget
derived from the stage itself, not against a fixed tolerance. The rounding-error bound of a sum
or dot product of n terms is gamma_n * sum |terms| (Higham, Accuracy and Stability of Numerical
Algorithms, 2nd ed., section 3.1: gamma_n = n u / (1 - n u), u the unit roundoff), whatever the
order of summation; two float32 implementations (TF in Python, TF.js in the page) can each be
that far from the exact value, so their difference is bounded by twice it. `Terms.magnitude` is
sum |terms| per output element (obtained by running the stage's linear part on |input| and
|weights|), `Terms.length` is n. On a float16 variant (WebGL textures in float16), every stored
value is rounded to float16 as well, which is what the float16 budget adds.

Within the float32 budget the error is `float32` and passes; on a float16 page within the float16
budget it is `float16` and passes; NaN/Inf the page makes where values pass float16's range
(65504) are `float16` too, and fail (the values are gone); anything beyond, or an error that is a
systematic scale or offset (js = python * (1 + c) + d with c or d beyond what rounding one
constant costs), is `semantic` and fails.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

U32 = 2.0**-24  # float32 unit roundoff
U16 = 2.0**-11  # float16 unit roundoff
FLOAT16_MAX = 65504.0
TINY32 = float(np.finfo(np.float32).tiny)  # GPUs flush float32 subnormals to zero
TINY16 = float(np.finfo(np.float16).tiny)  # and float16 ones
TRANSCENDENTAL_ULPS = 4  # exp, log, rsqrt, tanh...: a few ULPs on every backend (GLSL ES: 3-4)
SIGNIFICANT = 6.0  # z-score for a systematic scale or offset: noise does not reach it

# activation -> Lipschitz constant (how much an input error can grow) and whether it is
# computed with a transcendental function; "softmax" and "exponential" are handled apart
ACTIVATIONS: dict[str, tuple[float, bool]] = {
    "linear": (1.0, False),
    "relu": (1.0, False),
    "relu6": (1.0, False),
    "leaky_relu": (1.0, False),
    "hard_sigmoid": (0.2, False),
    "sigmoid": (0.25, True),
    "tanh": (1.0, True),
    "softsign": (1.0, True),
    "softplus": (1.0, True),
    "elu": (1.0, True),
    "selu": (1.76, True),
    "swish": (1.1, True),
    "silu": (1.1, True),
    "gelu": (1.13, True),
    "mish": (1.1, True),
}


def gamma(n: float, u: float) -> float:
    """Higham's gamma_n = n u / (1 - n u): the relative error bound of n roundings."""
    return n * u / (1 - n * u) if n * u < 1 else math.inf


@dataclass
class Terms:
    """What float arithmetic can cost at one stage, per output element.

    magnitude: sum |terms| of the stage's linear part per output element (its output's shape),
    before `activation`; None for an exact op (a copy, a max, a reshape), whose only error is
    rounding its output. length: n, the reduction length (terms summed per element). position:
    an absolute error from sampling positions computed in float32 (resize), or None.
    estimated: the terms were not derived from the op's structure (a custom op, an unknown
    layer): reduction length and magnitude estimated from running the op (op_terms.estimated),
    and a few ULPs of 1 allowed, as a transcendental function (log, exp) costs.
    beyond_float16: the stage's input or output holds values past float16's range."""

    magnitude: np.ndarray | None
    length: int
    basis: str
    activation: str = "linear"
    position: np.ndarray | None = None
    estimated: bool = False
    beyond_float16: bool = False
    composite: bool = False  # judged by its parts (a model stage by its layers)
    # outputs share partial results (a scan such as cumsum): their rounding errors accumulate
    # together and follow the output, so a fitted scale says nothing about a wrong constant
    shared: bool = False


def exact(basis: str, beyond_float16: bool = False) -> Terms:
    return Terms(None, 0, basis, beyond_float16=beyond_float16)


def bound(terms: Terms, reference: np.ndarray, precision: str) -> np.ndarray:
    """Per element, the largest |js - python| float arithmetic explains (float64, the shape of
    `reference`), for a page computing in `precision` (float32, or float16 textures)."""
    y = np.abs(reference.astype(np.float64))
    f16 = precision == "float16"
    storage = U16 if f16 else U32  # every value the page stores is rounded to this
    out = (2 * storage if f16 else TRANSCENDENTAL_ULPS * U32) * y + (TINY16 if f16 else TINY32)
    if terms.estimated:
        out = out + TRANSCENDENTAL_ULPS * U32
    if terms.magnitude is None:
        return out
    s = np.abs(terms.magnitude.astype(np.float64))
    # input rounding (float64 reference inputs, float16 textures), both sides' summation
    per_term = (3 * U16 if f16 else U32) + 2 * gamma(terms.length, U32)
    pre = per_term * s
    if terms.position is not None:
        pre = pre + np.abs(terms.position)
    act = terms.activation
    if act == "softmax":  # |d s_i| <= s_i (|d z_i| + sum_j s_j |d z_j|) <= 2 s_i max_j |d z_j|
        row = np.max(pre, axis=-1, keepdims=True) if pre.ndim else pre
        n_row = reference.shape[-1] if reference.ndim else 1
        spread = (2 * TRANSCENDENTAL_ULPS + 2 * n_row + 2) * U32 + (3 * U16 if f16 else 0.0)
        return out + 2 * y * row + spread * y
    if act == "exponential":
        return out + y * pre + TRANSCENDENTAL_ULPS * U32 * y
    lipschitz, transcendental = ACTIVATIONS.get(act, (2.0, True))
    out = out + lipschitz * pre
    if transcendental:  # exp, expm1, erf... in other formulas: ULPs of 1 and of the input,
        # scaled as the function scales them (selu's lambda alpha), and of the output
        out = out + TRANSCENDENTAL_ULPS * U32 * (max(lipschitz, 1.0) * (1 + s) + y)
    return out


@dataclass(frozen=True)
class OwnJudgement:
    verdict: str  # pass | fail
    error_class: str  # none | float32 | float16 | semantic
    ratio: float | None  # max over elements of own error / float32 budget (inf: past it at 0)
    ratio16: float | None  # the same against the float16 budget, on a float16 page
    message: str | None  # why it is what it is, when it is not plain


def judge(
    reference: np.ndarray, candidate: np.ndarray, terms: Terms, precision: str
) -> OwnJudgement:
    """The own error of a stage (`candidate`: the JS op on Python's input) against its budget."""
    integers = {reference.dtype.kind in "iub", candidate.dtype.kind in "iub"}
    if reference.shape != candidate.shape or len(integers) > 1:
        return OwnJudgement("fail", "semantic", None, None, None)  # compare_stage says how
    ref = reference.astype(np.float64)
    cand = candidate.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        ref32 = reference.astype(np.float32).astype(np.float64)  # past float32's range: Inf
        same_nonfinite = (ref32 == cand) | (np.isnan(ref32) & np.isnan(cand))
    finite = np.isfinite(ref) & np.isfinite(cand)
    bad = ~finite & ~same_nonfinite
    if bad.any():
        return _nonfinite(ref, cand, bad, terms, precision)
    if reference.dtype.kind in "iub":
        exact_match = bool(np.array_equal(ref[finite], cand[finite]))
        return OwnJudgement(
            "pass" if exact_match else "fail", "none" if exact_match else "semantic", 0, None, None
        )
    r32 = reference.astype(np.float32)
    c32 = candidate.astype(np.float32)
    if np.array_equal(r32[finite], c32[finite]):
        return OwnJudgement("pass", "none", 0.0, None, None)
    error = np.where(finite, np.abs(cand - ref), 0.0)
    levels = [("float32", U32)] + ([("float16", U16)] if precision == "float16" else [])
    ratios: dict[str, float] = {}
    for kind, u in levels:  # the float32 budget, then on a float16 page the float16 one
        ratios[kind] = _ratio(error, bound(terms, reference, kind))
        if ratios[kind] <= 1:
            systematic = _systematic(cand - ref, ref, terms, u, finite)
            verdict, error_class = ("pass", kind) if systematic is None else ("fail", "semantic")
            return OwnJudgement(
                verdict, error_class, ratios["float32"], ratios.get("float16"), systematic
            )
    return OwnJudgement("fail", "semantic", ratios["float32"], ratios.get("float16"), None)


def _ratio(error: np.ndarray, budget: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(error > 0, error / budget, 0.0)
    return float(np.max(r)) if r.size else 0.0


def _nonfinite(
    ref: np.ndarray, cand: np.ndarray, bad: np.ndarray, terms: Terms, precision: str
) -> OwnJudgement:
    """NaN/Inf on one side only: float16 range on a float16 page whose stage holds values past
    65504 (they overflow to Inf, and Inf - Inf or 0 * Inf is NaN); semantic otherwise."""
    first = tuple(int(i) for i in np.unravel_index(int(np.flatnonzero(bad)[0]), ref.shape))
    where = f"first at {list(first)} (python {float(ref[first])!r}, js {float(cand[first])!r})"
    past = terms.beyond_float16 or bool(np.any(np.abs(ref[np.isfinite(ref)]) > FLOAT16_MAX))
    if precision == "float16" and past:
        return OwnJudgement(
            "fail",
            "float16",
            None,
            None,
            f"float16 range: this stage holds values past float16's largest, 65504, which "
            f"the page's float16 textures turn into Inf (and Inf - Inf into NaN): "
            f"{int(bad.sum())} element(s) NaN/Inf on one side only, {where}",
        )
    return OwnJudgement(
        "fail",
        "semantic",
        None,
        None,
        f"{int(bad.sum())} element(s) NaN/Inf on one side only, {where}",
    )


def _systematic(
    signed: np.ndarray, ref: np.ndarray, terms: Terms, u: float, finite: np.ndarray
) -> str | None:
    """A scale or offset error (js = python * (1 + c) + d) that rounding one stored constant
    does not explain (c beyond u + a few float32 ULPs, or d beyond that times the terms' median
    size), far beyond noise (each by SIGNIFICANT standard errors, the fit by an F statistic
    over SIGNIFICANT^2), and whose fitted error is beyond that allowance somewhere, so that a
    scale and an offset that cancel over a narrow range of outputs are no finding: a wrong
    constant hiding inside a float budget.

    Only for known affine stages: after exp/erf-type functions, in scans, and in ops whose
    structure is estimated, rounding errors may follow the output by nature."""
    e, y = signed[finite], ref[finite]
    _, transcendental = ACTIVATIONS.get(terms.activation, (2.0, True))
    if terms.shared or terms.estimated or transcendental or e.size < 16 or not np.any(e):
        return None
    yc = y - y.mean()
    spread = float(np.sum(yc * yc))
    if spread == 0:
        return None
    c = float(np.sum(yc * e) / spread)
    d = float(e.mean() - c * y.mean())
    fitted = c * y + d
    resid = e - fitted
    sigma2 = float(np.sum(resid * resid)) / max(e.size - 2, 1)
    f_stat = float(np.sum(fitted * fitted)) / 2 / sigma2 if sigma2 > 0 else math.inf
    scale = terms.magnitude[finite] if terms.magnitude is not None else y
    typical = float(np.median(np.abs(scale))) or float(np.max(np.abs(y)))
    slack = u + TRANSCENDENTAL_ULPS * U32
    se_c = math.sqrt(sigma2 / spread)
    se_d = math.sqrt(sigma2 * (1 / e.size + y.mean() ** 2 / spread))
    parameter = (abs(c) > slack and abs(c) > SIGNIFICANT * se_c) or (
        abs(d) > slack * typical and abs(d) > SIGNIFICANT * se_d
    )
    # the fitted error itself must pass what one rounded scale costs at the largest output
    beyond = float(np.max(np.abs(fitted))) / (slack * float(np.max(np.abs(y))))
    if not parameter or beyond <= 1 or f_stat <= SIGNIFICANT**2:
        return None
    return (
        f"within the rounding budget, but the error is systematic (js = python x (1 "
        f"{'+' if c >= 0 else '-'} {abs(c):.3g}) {'+' if d >= 0 else '-'} {abs(d):.3g}, "
        f"{beyond:.3g}x what rounding one constant costs): a different constant or formula, "
        "not rounding"
    )
