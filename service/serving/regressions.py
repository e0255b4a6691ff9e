"""What a candidate lost beside the model it would replace, read from both cards' figures.

A training learns whatever its rows say: rows that teach "no security risk" give a candidate
whose security F1 falls to nothing while its macro-F1 still looks fair. So a label whose F1
falls by more than ``F1_DROP`` on a split both cards measured (validation, test), risks
found on the development documents falling by more than ``FOUND_DROP`` of the base's, or the
precision of its findings there by more than ``PRECISION_DROP``, is a regression; activation
and rollback refuse such a candidate unless an admin names each regression in an override
(deployment.activate, deployment.rollback), and the registry lists them beside the version.
"""

from __future__ import annotations

F1_DROP = 0.1
FOUND_DROP = 0.1
PRECISION_DROP = 0.05  # a 0.78 → 0.70 step went unseen (issue #75)
#: A reader's cascade may read the development documents this much worse (F1) than its fast
#: model alone and still join: about three findings of the 54 documents. The one-epoch reader
#: fitted to the shipped fast model read them at 0.58 against 0.60 (the same risks, four
#: false alarms more) while on the new writers it lifted F1 0.52 → 0.58 and the 46 0.31 →
#: 0.39 (docs/experiments/2026-11-29-the-reader-trains-itself.md).
CASCADE_F1_DROP = 0.02
SPLITS = ("validation", "test")
#: What the override names for the development documents' risks found, and for the
#: precision of the findings there.
DOCUMENTS = "documents"
PRECISION = "precision"
#: What the override names for a reader whose cascade reads worse than its fast model alone.
CASCADE = "cascade"


def regressions(new: dict, old: dict) -> dict[str, str]:
    """``{label or DOCUMENTS: what fell, in words}`` of a candidate's card figures (``new``,
    its metrics.json as registry.metrics reads it) beside its base's (``old``); empty where
    nothing fell, or where either card has no figures."""
    lost: dict[str, str] = {}
    for split in SPLITS:
        new_labels = _per_label(new, split)
        for label, before in _per_label(old, split).items():
            after = new_labels.get(label)
            if after is not None and before - after > F1_DROP and label not in lost:
                lost[label] = f"{label} F1 {before:.2f} → {after:.2f} ({split} sentences)"
    before, after = _dev(old, "recall"), _dev(new, "recall")
    if before and after is not None and after < before * (1 - FOUND_DROP):
        lost[DOCUMENTS] = (f"risks found on the development documents {before:.2f} → "
                           f"{after:.2f} (recall)")
    before, after = _dev(old, "precision"), _dev(new, "precision")
    if before is not None and after is not None and before - after > PRECISION_DROP:
        lost[PRECISION] = (f"precision of the findings on the development documents "
                           f"{before:.2f} → {after:.2f}")
    return lost


def cascade_lost(screen: dict) -> dict[str, str]:
    """``{CASCADE: in words}`` where a reader's cascade reads the development documents worse
    than its fast model alone by more than CASCADE_F1_DROP (F1, each at its operating point,
    as ``python -m ml.cascade`` measured them into screen.json); empty where it does not, or
    where the screen has no such figures (a reader fitted before they were kept)."""
    fast, cascade = _at(screen, "documents", "dev", "fast"), _at(screen, "documents", "dev",
                                                                  "cascade")
    before, after = _at(fast, "f1"), _at(cascade, "f1")
    if not isinstance(before, int | float) or not isinstance(after, int | float):
        return {}
    if before - after > CASCADE_F1_DROP + 1e-9:
        return {CASCADE: (f"the cascade reads the development documents worse than its fast "
                          f"model alone: F1 {after:.2f} against {before:.2f}")}
    return {}


def _at(metrics: dict, *keys):
    """``metrics[k1][k2]…``, or None where a level is missing or not an object."""
    for key in keys:
        metrics = metrics.get(key) if isinstance(metrics, dict) else None
    return metrics


def _per_label(metrics: dict, split: str) -> dict[str, float]:
    labels = _at(metrics, split, "per_label")
    if not isinstance(labels, dict):
        return {}
    return {label: float(f1) for label in labels
            if isinstance(f1 := _at(labels, label, "f1"), int | float)}


def _dev(metrics: dict, figure: str) -> float | None:
    value = _at(metrics, "documents", "dev", "overall", figure)
    return float(value) if isinstance(value, int | float) else None
