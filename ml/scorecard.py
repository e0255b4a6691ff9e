"""A model's figures on the evaluation sets docs/model.md reports, one Markdown row a model.

    python -m ml.scorecard models_cache/A [models_cache/B ...] [--no-dev] [--reader R]
    python -m ml.scorecard --cards a.json b.json --mean     # rows saved with --json, and their mean

The test documents hold four sets that docs/model.md keeps apart, so that a figure stays
comparable from one data change to the next (``SETS``): the 42 documents of six genres the
goal was first measured on, the 46 quarterly reports of 15 groups of other foundations
(writers the training data never met),
the 47 status updates of the Rust project goals, and of those the 29 of work streams no
training row comes from; and, from a file of its own, **the new writers** (104 reports of
70 writer groups: CNCF projects' annual reviews, Ethereum and IPFS retrospectives and
notes; 432 risks, labelled twice and adjudicated: ml/data/yardstick.py). Every set is read off one scoring of the test documents (and one
of the development documents, for precision at a recall there), through the scan path
like ``ml.compare``; "P at recall r" is the best precision of any threshold (0.01 apart)
that still finds r of the risks.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from ml.card import figure
from ml.compare import measured, pair, percent
from ml.recipe import NEW_WRITERS_DOCUMENTS
from service.analysis.model_folder import ModelFolder

DOCUMENTS = Path(__file__).resolve().parent / "data" / "documents"
RECALLS = (0.45, 0.55, 0.65)
LOW = 0.5  # the fixed threshold every table also reads


def _other_foundation(document) -> bool:
    return document.id.startswith(("project-report/openssf-", "project-report/cdf-"))


def _status_update(document) -> bool:
    return document.genre == "status-update"


# The goals' monthly posts of February to July 2025 are those the held-back and training
# rows come from; the others' work streams carry on no goal with training rows.
_TRAINED_MONTHS = re.compile(r"^status-update/rust-goals-2025-(feb|march|april|may|june|july)-")

SETS = {
    "42": lambda d: not _other_foundation(d) and not _status_update(d),
    "46 other foundations": _other_foundation,
    "47 status updates": _status_update,
    "29 unseen work streams": lambda d: _status_update(d) and not _TRAINED_MONTHS.match(d.id),
}


def precision_at_recall(documents, scored, recall: float) -> float | None:
    """The best precision of any threshold whose findings reach ``recall`` of the risks."""
    from ml.documents import curve

    return max((point["precision"] for point in curve(documents, scored)
                if point["recall"] is not None and point["recall"] >= recall), default=None)


#: The set of a file of its own (ml/data/documents/new-writers.jsonl).
NEW_WRITERS = "new writers"


def figures(documents, scored, point: float) -> dict:
    """One set's figures: at the operating point and at LOW, the minutes' neutral lines
    flagged, and precision at each of RECALLS."""
    from ml.documents import metrics_at

    if not documents:  # a documents file without this set: its cells are dashes
        return {"documents": 0, "at_point": None, f"at_{LOW}": None,
                "minutes_flagged": [None, None], "precision_at_recall": dict.fromkeys(RECALLS)}
    at_point, at_low = metrics_at(documents, scored, point), metrics_at(documents, scored, LOW)
    return {
        "documents": len(documents),
        "at_point": at_point.get("all"), f"at_{LOW}": at_low.get("all"),
        "minutes_flagged": [m.get("minutes", {}).get("neutral_flagged")
                            for m in (at_point, at_low)],
        "precision_at_recall": {r: precision_at_recall(documents, scored, r) for r in RECALLS},
    }


def scorecard(model_dir: Path, test_path: Path, dev_path: Path | None,
              reader_dir: Path | None = None, new_writers: Path | None = None) -> dict:
    """The figures of one model, or of the cascade of it and ``reader_dir`` (as served: the
    reader in its checked precision, behind its screen threshold, within the default reading
    budget), on each of ``SETS`` (and the development documents). A cascade's seed is its
    reader's."""
    from service.analysis.transformer import TransformerAnalyzer

    analyzer = TransformerAnalyzer(model_dir)
    if reader_dir is not None:
        from ml.cascade import cascade_of

        analyzer = cascade_of(analyzer, reader_dir)
    seed = ModelFolder(reader_dir or model_dir).training().get("seed")
    return scorecard_of(analyzer, seed, test_path, dev_path, new_writers)


def scorecard_of(analyzer, seed, test_path: Path, dev_path: Path | None,
                 new_writers: Path | None = None) -> dict:
    """``scorecard`` of an analyzer already made (ml/reader_recipes.py: a reader whose
    logits were computed elsewhere)."""
    from ml.documents import read_documents, score_documents

    point = analyzer.min_score
    documents = read_documents(test_path)
    scored = score_documents(analyzer, documents)
    card = {"model": analyzer.version, "min_score": point, "seed": seed}
    for name, member in SETS.items():
        chosen = [i for i, document in enumerate(documents) if member(document)]
        card[name] = figures([documents[i] for i in chosen], [scored[i] for i in chosen], point)
    others = read_documents(new_writers) if new_writers is not None else []
    card[NEW_WRITERS] = figures(others, score_documents(analyzer, others), point)
    if dev_path is not None:
        dev = read_documents(dev_path)
        card["dev_precision_at_recall"] = precision_at_recall(
            dev, score_documents(analyzer, dev), RECALLS[0]) if dev else None
    return card


def _average(values: list):
    """The mean of the same figure in several cards, leaf by leaf; None where a card lacks it."""
    first = values[0]
    if isinstance(first, dict):
        if any(not isinstance(v, dict) for v in values):
            return None
        return {key: _average([v.get(key) for v in values]) for key in first}
    if isinstance(first, list):
        if any(not isinstance(v, list) or len(v) != len(first) for v in values):
            return None
        return [_average(list(items)) for items in zip(*values, strict=True)]
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return sum(values) / len(values)
    return None


def mean(cards: list[dict]) -> dict:
    """One card of the mean figures of ``cards`` (the seeds of one recipe): docs/model.md reads
    a target off the mean of the seeds, not off the best one."""
    card = _average(cards)
    card["model"] = f"mean of {len(cards)}"
    card["seed"] = ", ".join(str(c.get("seed")) for c in cards)
    return card


def load_cards(path: Path) -> list[dict]:
    """Cards saved by ``--json``; JSON made the recalls' keys strings, markdown reads floats."""
    cards = json.loads(path.read_text())
    for card in cards:
        for name in (*SETS, NEW_WRITERS):
            if name in card:
                card[name]["precision_at_recall"] = {
                    float(r): v for r, v in card[name]["precision_at_recall"].items()}
    return cards


def markdown(cards: list[dict]) -> str:
    header = ["model", "seed", "operating point", "42 at it: P / R", "category right",
              "42: P at recall " + " / ".join(map(str, RECALLS)), f"42 at {LOW}: P / R",
              f"minutes' neutral lines flagged at it / at {LOW}",
              "46 other foundations at it: P / R", f"at {LOW}",
              f"47 status updates at {LOW}", f"29 unseen work streams at {LOW}",
              "new writers at it: P / R / F1", f"at {LOW}",
              f"dev: P at recall {RECALLS[0]}"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for card in cards:
        main, other = card["42"], card["46 other foundations"]
        cells = [card["model"], str(card["seed"]), f"{card['min_score']:.2f}",
                 pair(main["at_point"]), figure((main["at_point"] or {}).get("category_accuracy")),
                 " / ".join(figure(main["precision_at_recall"][r]) for r in RECALLS),
                 pair(main[f"at_{LOW}"]),
                 " / ".join(percent(v) for v in main["minutes_flagged"]),
                 pair(other["at_point"]), pair(other[f"at_{LOW}"]),
                 pair(card["47 status updates"][f"at_{LOW}"]),
                 pair(card["29 unseen work streams"][f"at_{LOW}"]),
                 with_f1((card.get(NEW_WRITERS) or {}).get("at_point")),
                 pair((card.get(NEW_WRITERS) or {}).get(f"at_{LOW}")),
                 figure(card.get("dev_precision_at_recall"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def with_f1(measured: dict | None) -> str:
    """"P / R / F1" of a set's figures at a threshold."""
    if not measured or measured.get("precision") is None or not measured.get("recall"):
        return pair(measured)
    precision, recall = measured["precision"], measured["recall"]
    return f"{pair(measured)} / {figure(2 * precision * recall / (precision + recall))}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.scorecard",
                                     description="A model's figures on the evaluation sets.")
    parser.add_argument("models", type=Path, nargs="*", help="model folders (models_cache/<v>)")
    parser.add_argument("--documents", type=Path, default=DOCUMENTS / "test.jsonl",
                        help="the test documents, holding the sets (default: %(default)s)")
    parser.add_argument("--dev", type=Path, default=DOCUMENTS / "dev.jsonl",
                        help="development documents, for precision at a recall there")
    parser.add_argument("--new-writers", type=Path, default=NEW_WRITERS_DOCUMENTS,
                        help="the new writers' reports, a set of their own")
    parser.add_argument("--no-dev", dest="dev", action="store_const", const=None,
                        help="leave the development documents out (quicker)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--reader", type=Path, default=None,
                        help="a reader's folder: each model's row is then its cascade with it")
    parser.add_argument("--cards", type=Path, nargs="+", default=[],
                        help="rows saved earlier with --json, printed before the measured ones")
    parser.add_argument("--mean", action="store_true",
                        help="end the table with the mean of its rows (seeds of one recipe)")
    args = parser.parse_args(argv)
    if not args.models and not args.cards:
        parser.error("name model folders, or --cards saved with --json")
    cards = [card for path in args.cards for card in load_cards(path)]
    if args.models:
        code, measured_cards = measured(args.models, lambda model_dirs: [
            scorecard(model_dir, args.documents, args.dev, args.reader, args.new_writers)
            for model_dir in model_dirs])
        if code:
            return code
        if args.json is not None:
            args.json.write_text(json.dumps(measured_cards, indent=2, default=str))
        cards += measured_cards
    print(markdown(cards + [mean(cards)] if args.mean else cards))
    return 0


if __name__ == "__main__":
    sys.exit(main())
