"""The pair model's card: the README.md and metrics.json of a folder ``ml.pair_training``
writes, so that the registry lists it beside the classifiers with what it is, how it was
made and how it decides against today's rule on the same pairs (issue #77)."""

from __future__ import annotations

import json
from pathlib import Path

from ml.card import render
from service.analysis.model_folder import CARD, METRICS_JSON

#: The figures' rows in the card, in this order: development pairs choose the threshold,
#: test pairs (held-out projects) say how it does.
ROWS = ("dev/restated", "dev/corpus", "test/restated", "test/corpus")


def write(folder: Path, config: dict, figures: dict) -> None:
    """``figures`` (ml.pair_training.evaluate's) into metrics.json, and the card."""
    (folder / METRICS_JSON).write_text(json.dumps(figures, indent=1) + "\n")
    rows = [(name, figures[name]) for name in ROWS if name in figures]
    (folder / CARD).write_text(render(
        "pair_card.md.j2", name=folder.name.removesuffix(".partial"), config=config, rows=rows))
