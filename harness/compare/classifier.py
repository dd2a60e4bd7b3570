"""Classifier output metrics: does the page pick the same classes as Python, and how close.

For [batch, classes] outputs. Logits are recovered from probabilities up to softmax's per-row
shift (log p - mean(log p) equals logits - mean(logits)), so their cosine is meaningful even when
the model ends in a softmax, as Keras classifiers do.
"""

from __future__ import annotations

import numpy as np


def classifier_outputs(
    reference: np.ndarray, candidate: np.ndarray, softmax: bool, k: int = 5
) -> dict | None:
    """top-1 / top-k agreement (share of rows), max |prob difference|, worst logits cosine (NaN
    when a row holds NaN/Inf on either side: no angle to speak of);
    None unless the output is a classifier's: [batch, classes], and the model ends in a softmax
    (`softmax`) or the reference's rows are probability distributions. A regression head (box
    coordinates, a face mesh) has no classes to agree on."""
    if reference.shape != candidate.shape or reference.ndim != 2 or reference.shape[1] < 2:
        return None
    if not (softmax or _distributions(reference)):
        return None
    ref = reference.astype(np.float64)
    cand = candidate.astype(np.float64)
    # a row holding NaN/Inf on either side has no class ranking to agree on
    finite = np.isfinite(ref).all(axis=1) & np.isfinite(cand).all(axis=1)
    top_ref = np.argsort(-ref, axis=1, kind="stable")[:, :k]
    top_cand = np.argsort(-cand, axis=1, kind="stable")[:, :k]
    top1 = (top_ref[:, 0] == top_cand[:, 0]) & finite
    topk = np.array([set(a) == set(b) for a, b in zip(top_ref, top_cand, strict=True)]) & finite
    return {
        "top1_agreement": float(np.mean(top1)),
        # with k classes or fewer, the top k always agree: nothing to say
        "top5_agreement": float(np.mean(topk)) if ref.shape[1] > k else None,
        "max_abs_prob": float(np.abs(cand - ref).max()),
        "logits_cosine": float(np.min(_cosines(_logits(ref), _logits(cand)))),  # NaN wins
        "rows": int(ref.shape[0]),
    }


def _distributions(x: np.ndarray) -> bool:
    """Every row non-negative and summing to 1 (float32 sums: within 1e-4)."""
    with np.errstate(invalid="ignore"):
        return bool(np.all(x >= 0) and np.allclose(x.sum(axis=1), 1.0, atol=1e-4))


def _logits(x: np.ndarray) -> np.ndarray:
    """Centred logits: from probabilities when rows are distributions, else the values."""
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.log(np.clip(x, 1e-30, None)) if _distributions(x) else x
        return z - z.mean(axis=1, keepdims=True)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row; NaN where either row is not all finite, 1 where both are zero vectors."""
    with np.errstate(invalid="ignore", over="ignore"):
        norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        dots = np.sum(a * b, axis=1)
        cos = np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), 1.0)
    finite = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
    return np.where(finite, cos, np.nan)
