"""The register's rating scale: likelihood and impact from 1 to 5, their product the score,
and the band a score falls in (low, medium, high, critical).

The one place for these rules: the API's answers (a risk's score and band, the matrix and
its scale), the export's columns and the trend's bands read them here, and the console
shows what the API answers. The words for 1–5 are a deployment's: the settings
RISK_LIKELIHOOD_LABELS and RISK_IMPACT_LABELS (config.py parses them with ``labels``).
Imports nothing of the service, so that config.py may.
"""

from __future__ import annotations

LEVELS = (1, 2, 3, 4, 5)
MAX_SCORE = LEVELS[-1] * LEVELS[-1]
LABEL_MAX = 40  # a label fits a table's header
LIKELIHOOD_LABELS = ("Rare", "Unlikely", "Possible", "Likely", "Almost certain")
IMPACT_LABELS = ("Negligible", "Minor", "Moderate", "Major", "Severe")
# Each band's lowest and highest score: the common 5×5 matrix's split (a product of two
# levels is never 7, 11, 13, 14 or 17–19).
BANDS = (("low", 1, 3), ("medium", 4, 6), ("high", 8, 12), ("critical", 15, MAX_SCORE))
UNRATED = "unrated"  # the trend's key for entries without a score


def score(likelihood: int | None, impact: int | None) -> int | None:
    """likelihood × impact; None until both are rated."""
    if likelihood is None or impact is None:
        return None
    return likelihood * impact


def band(value: int | None) -> str | None:
    """The band of a score, None for no score."""
    if value is None:
        return None
    return next(name for name, low, _ in reversed(BANDS) if value >= low)


def labels(value: str) -> tuple[str, ...]:
    """Five comma-separated words for 1–5 (a setting's value), or ValueError saying why."""
    words = tuple(word.strip() for word in value.split(","))
    if len(words) != len(LEVELS) or not all(words):
        raise ValueError(f"expected {len(LEVELS)} comma-separated labels for 1–"
                         f"{LEVELS[-1]}, got {value!r}")
    if any(len(word) > LABEL_MAX for word in words):
        raise ValueError(f"a label is longer than {LABEL_MAX} characters: {value!r}")
    return words


def scale(likelihood_labels: tuple[str, ...], impact_labels: tuple[str, ...]) -> dict:
    """The scale as the API describes it (ScaleSchema): levels with their labels, bands."""
    return {"likelihood": [{"value": level, "label": label}
                           for level, label in zip(LEVELS, likelihood_labels, strict=True)],
            "impact": [{"value": level, "label": label}
                       for level, label in zip(LEVELS, impact_labels, strict=True)],
            "bands": [{"band": name, "min_score": low, "max_score": high}
                      for name, low, high in BANDS]}
