"""Compare trained models on real documents, one Markdown row a model.

    python -m ml.compare models_cache/A models_cache/B [--documents ml/data/documents/test.jsonl]
                         [--thresholds 0.5 0.7 0.8 0.9] [--genres project-report minutes]

The seed alone moves a model's precision and recall at its own operating point by about
0.1 (docs/model.md, "What a seed moves"), so a change of data or recipe is judged over
several seeds, and at fixed thresholds as well as at each model's point: there the seeds
agree more closely. Each model scores the documents once through the scan path
(ml/documents.py) and every threshold is read off those scores. The table is the one
docs/model.md shows: seed, operating point (with the development documents' precision and
recall there, from the model's metrics.json), precision, recall, category right and
neutral lines flagged at that point, then precision / recall at each threshold and in each
genre named.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from ml.card import figure

DEFAULT_DOCUMENTS = Path(__file__).resolve().parent / "data" / "documents" / "test.jsonl"
DEFAULT_THRESHOLDS = (0.5, 0.7, 0.8, 0.9)


def compare(model_dirs: list[Path], documents_path: Path = DEFAULT_DOCUMENTS, *,
            thresholds=DEFAULT_THRESHOLDS, genres=()) -> list[dict]:
    """One row a model: its version, seed, operating point and the metrics above."""
    from ml.documents import metrics_at, read_documents, score_documents
    from service.analysis.transformer import TransformerAnalyzer

    documents = read_documents(documents_path)
    rows = []
    for model_dir in model_dirs:
        analyzer = TransformerAnalyzer(model_dir)
        scored = score_documents(analyzer, documents)
        at_point = metrics_at(documents, scored, analyzer.min_score)
        calibration = read_json(model_dir / "metrics.json").get("calibration", {})
        rows.append({
            "model": analyzer.version,
            "seed": read_json(model_dir / "training_config.json").get("seed"),
            "min_score": analyzer.min_score,
            "dev": calibration.get("at_operating_point"),
            "overall": at_point["all"],
            "at": {t: metrics_at(documents, scored, t)["all"] for t in thresholds},
            "genres": {genre: at_point.get(genre) for genre in genres},
        })
    return rows


def markdown(rows: list[dict], thresholds=DEFAULT_THRESHOLDS, genres=()) -> str:
    header = ["model", "seed", "operating point (dev P / R)", "precision", "recall",
              "category right", "neutral flagged",
              *(f"at {t}: P / R" for t in thresholds), *(f"{g}: P / R" for g in genres)]
    lines = ["| " + " | ".join(header) + " |",
             "|---|" + "---:|" * (len(header) - 1)]
    for row in rows:
        overall, dev = row["overall"], row["dev"]
        point = f"{row['min_score']:.2f}"
        if dev:
            point += f" ({figure(dev['precision'])} / {figure(dev['recall'])})"
        cells = [row["model"], str(row["seed"]), point, figure(overall["precision"]),
                 figure(overall["recall"]), figure(overall["category_accuracy"]),
                 percent(overall["neutral_flagged"]),
                 *(pair(row["at"][t]) for t in thresholds),
                 *(pair(row["genres"][g]) for g in genres)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def percent(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def pair(metrics: dict | None) -> str:
    if not metrics:
        return "–"
    return f"{figure(metrics['precision'])} / {figure(metrics['recall'])}"


def measured(models: list[Path], measure) -> tuple[int, object]:
    """(0, ``measure`` of the model folders named), with stdout kept for the table: anything a
    library prints goes to stderr. (2, None), the reason on stderr, where the documents or a
    model cannot be used."""
    with contextlib.redirect_stdout(sys.stderr):
        from ml.documents import InvalidDocumentsError
        from service.analysis.base import AnalysisError
        from service.analysis.transformer import resolve_model_dir

        try:
            return 0, measure([resolve_model_dir(model) for model in models])
        except InvalidDocumentsError as error:
            print(f"error: {error}", file=sys.stderr)
        except AnalysisError as error:
            print(f"error: {error.detail}", file=sys.stderr)
    return 2, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.compare",
                                     description="Compare models on real documents.")
    parser.add_argument("models", type=Path, nargs="+", help="model folders (models_cache/<v>)")
    parser.add_argument("--documents", type=Path, default=DEFAULT_DOCUMENTS,
                        help="JSONL of real documents (default: the test documents)")
    parser.add_argument("--thresholds", type=float, nargs="*", default=list(DEFAULT_THRESHOLDS),
                        help="fixed min_score values to read precision / recall at")
    parser.add_argument("--genres", nargs="*", default=[],
                        help="genres to show at each model's operating point")
    args = parser.parse_args(argv)
    code, rows = measured(args.models, lambda model_dirs: compare(
        model_dirs, args.documents, thresholds=args.thresholds, genres=args.genres))
    if code == 0:
        print(markdown(rows, args.thresholds, args.genres))
    return code


if __name__ == "__main__":
    sys.exit(main())
