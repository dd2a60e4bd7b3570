"""Classifier output metrics: does the page pick the same classes as Python, and how close.

For [batch, classes] outputs. Logits are recovered from probabilities up to softmax's per-row
shift (log p - mean(log p) equals logits - mean(logits)), so their cosine is meaningful even when
the model ends in a softmax, as Keras classifiers do.
"""

from __future__ import annotations

import numpy as np


def classifier_outputs(reference: np.ndarray, candidate: np.ndarray, k: int = 5) -> dict | None:
    """top-1 / top-k agreement (share of rows), max |prob difference|, worst logits cosine;
    None when the output is not [batch, classes] or shapes differ."""
    if reference.shape != candidate.shape or reference.ndim != 2 or reference.shape[1] < 2:
        return None
    ref = reference.astype(np.float64)
    cand = candidate.astype(np.float64)
    k = min(k, ref.shape[1])
    top_ref = np.argsort(-ref, axis=1, kind="stable")[:, :k]
    top_cand = np.argsort(-cand, axis=1, kind="stable")[:, :k]
    top1 = top_ref[:, 0] == top_cand[:, 0]
    topk = [set(a) == set(b) for a, b in zip(top_ref, top_cand, strict=True)]
    return {
        "top1_agreement": float(np.mean(top1)),
        "top5_agreement": float(np.mean(topk)),
        "max_abs_prob": float(np.abs(cand - ref).max()),
        "logits_cosine": float(np.min(_cosines(_logits(ref), _logits(cand)))),
        "rows": int(ref.shape[0]),
    }


def _logits(x: np.ndarray) -> np.ndarray:
    """Centred logits: from probabilities when rows are distributions, else the values."""
    rows_are_probabilities = np.all(x >= 0) and np.allclose(x.sum(axis=1), 1.0, atol=1e-4)
    z = np.log(np.clip(x, 1e-30, None)) if rows_are_probabilities else x
    return z - z.mean(axis=1, keepdims=True)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dots = np.sum(a * b, axis=1)
    return np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), 1.0)
