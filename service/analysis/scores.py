"""What a risk score says: the classifier's softmax, the score map that calibrates it for
writers the model never met, and the operating point that turns scores into labels.

Kept apart from the analyzer that computes the scores, so that ml/calibrate.py fits the map
with the very functions the service applies it with.
"""

from __future__ import annotations

import math

import numpy as np

from service.analysis.labels import NONE


def apply_min_score(scored: list[tuple[str, float]], min_score: float
                    ) -> list[tuple[str, float]]:
    """(category, risk score) pairs as labels at an operating point (see classify)."""
    return [(category, risk) if risk >= min_score else (NONE, 1 - risk)
            for category, risk in scored]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in float32 as torch.softmax computes it."""
    exponentials = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


def valid_score_map(score_map) -> bool:
    """Whether (slope, intercept, floor) keeps every score's order: a map that reordered
    sentences would change which are findings, not only what their scores say."""
    return (len(score_map) == 3 and all(math.isfinite(v) for v in score_map)
            and score_map[0] > 0 and 0 <= score_map[2] < 1)


def mapped(risk_scores: np.ndarray, score_map: tuple[float, float, float] | None
           ) -> np.ndarray:
    """``risk_scores`` through ``score_map`` (slope, intercept, floor): from the floor up a
    logistic on their log-odds (where it was fitted: the findings and near misses), below
    it a straight line from 0 to where the logistic starts, so that plain lines stay near
    0. Monotone: the order of sentences, and every threshold's findings, stay as they were;
    only what a score says changes."""
    if score_map is None:
        return risk_scores
    slope, intercept, floor = score_map
    scores = risk_scores.astype(np.float64)

    def logistic(values):
        return 1 / (1 + np.exp(-(slope * log_odds(values) + intercept)))

    if floor > 0:
        start = logistic(np.float64(floor))
        result = np.where(scores >= floor, logistic(scores), scores * (start / floor))
    else:
        result = logistic(scores)
    return result.astype(np.float32)


def log_odds(scores: np.ndarray) -> np.ndarray:
    """log(s / (1 − s)) of scores in 0..1, kept finite at 0 and 1."""
    clipped = np.clip(np.asarray(scores, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(clipped) - np.log1p(-clipped)
