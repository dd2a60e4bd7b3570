"""The tolerance policy a stage is judged under (Tolerance): the element-wise rule (atol, rtol,
ULP, a share of elements allowed to fail) or a statistic of the errors (STATISTICS). Its
defaults, the pipeline's settings and the command-line overrides are compare/tolerance.py's."""

from __future__ import annotations

from dataclasses import dataclass

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
