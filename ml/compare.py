"""Compare trained models on real documents, one Markdown row a model.

    python -m ml.compare models_cache/A models_cache/B [--documents ml/data/documents/test.jsonl]
                         [--thresholds 0.5 0.7 0.8 0.9] [--genres project-report minutes]
    python -m ml.compare --gate models_cache models_cache/<candidate> [--tolerance 0.05]

The seed alone moves a model's precision and recall at its own operating point by about
0.1 (docs/experiments/2026-11-23-rfc-drawbacks-and-what-a-seed-moves.md), so a change of
data or recipe is judged over several seeds, and at fixed thresholds as well as at each
model's point: there the seeds agree more closely. Each model scores the documents once
through the scan path (ml/documents.py) and every threshold is read off those scores. The
table is the one docs/experiments/ shows: seed, operating point (with the development
documents' precision and recall there, from the model's metrics.json), precision, recall,
category right and neutral lines flagged at that point, then precision / recall at each
threshold and in each genre named.

``--gate ACTIVE CANDIDATE`` decides whether a candidate may replace the active model (a
models root such as ``models_cache`` stands for its ``current`` version): both score the
development and the test documents (or the ``--documents`` given), and the candidate passes
when none of its document figures at its own operating point (precision, recall, category
right) is below the active model's by more than ``--tolerance``. Exit 0 when it passes, 1
with the table of every figure when it does not (2: a model or the documents unusable).
The tolerance, 0.05 by default, lets a retraining pass that moves a figure by less than half
of what a seed alone moves it (docs/model.md, "Corrections back into training"); a drop
beyond it is worth a second seed before the candidate is discarded.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from ml.card import figure
from service.analysis.model_folder import ModelFolder

DEFAULT_DOCUMENTS = Path(__file__).resolve().parent / "data" / "documents" / "test.jsonl"
DEFAULT_THRESHOLDS = (0.5, 0.7, 0.8, 0.9)
GATE_DOCUMENTS = (DEFAULT_DOCUMENTS.with_name("dev.jsonl"), DEFAULT_DOCUMENTS)
#: The figures a candidate must keep, as ml.documents names them and as the table shows them.
GATED = {"precision": "precision", "recall": "recall", "category_accuracy": "category right"}
DEFAULT_TOLERANCE = 0.05


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
        folder = ModelFolder(model_dir)
        calibration = folder.metrics().get("calibration", {})
        rows.append({
            "model": analyzer.version,
            "seed": folder.training().get("seed"),
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


def gate(active: Path, candidate: Path, documents_paths=GATE_DOCUMENTS, *,
         tolerance: float = DEFAULT_TOLERANCE) -> list[dict]:
    """One check per documents file and gated figure: both models' values at their own
    operating points and whether the candidate keeps the active model's within
    ``tolerance``. Each model is loaded once and scores each file once."""
    from ml.documents import metrics_at, read_documents, score_documents
    from service.analysis.transformer import TransformerAnalyzer

    sets = {Path(path).name: read_documents(path) for path in documents_paths}
    measured = []
    for model_dir in (active, candidate):
        analyzer = TransformerAnalyzer(model_dir)
        measured.append((analyzer.version, {
            name: metrics_at(documents, score_documents(analyzer, documents),
                             analyzer.min_score)["all"] for name, documents in sets.items()}))
    (active_version, before), (candidate_version, after) = measured
    return [{"documents": name, "figure": title, "active": active_version,
             "candidate": candidate_version, "before": before[name][key],
             "after": after[name][key],
             "passes": keeps(before[name][key], after[name][key], tolerance)}
            for name in sets for key, title in GATED.items()]


def keeps(before: float | None, after: float | None, tolerance: float) -> bool:
    """Whether ``after`` is no worse than ``before`` within ``tolerance``. None is a figure
    not measured: no finding (precision) or none matched (category right); a candidate
    loses it where the active model had it, and nothing is lost where neither has it."""
    if before is None:
        return True
    return after is not None and after >= before - tolerance


def gate_markdown(checks: list[dict], tolerance: float) -> str:
    """The gate's table, a row a check, and its verdict as the last line."""
    first = checks[0]
    lines = [(f"| documents | figure | active `{first['active']}` | candidate "
              f"`{first['candidate']}` | change | within {tolerance:g} |"),
             "|---|---|---:|---:|---:|---|"]
    for check in checks:
        before, after = check["before"], check["after"]
        change = "–" if before is None or after is None else f"{after - before:+.2f}"
        lines.append(f"| {check['documents']} | {check['figure']} | {figure(before)} | "
                     f"{figure(after)} | {change} | {'yes' if check['passes'] else '**no**'} |")
    failed = [f"{c['figure']} on {c['documents']}" for c in checks if not c["passes"]]
    lines.append("\n" + (f"The candidate is worse than the active model: {', '.join(failed)}."
                         if failed else "The candidate is no worse than the active model."))
    return "\n".join(lines)


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
    parser.add_argument("--documents", type=Path, nargs="+", default=None,
                        help="JSONL of real documents (default: the test documents; with "
                             "--gate, the development and the test documents)")
    parser.add_argument("--thresholds", type=float, nargs="*", default=list(DEFAULT_THRESHOLDS),
                        help="fixed min_score values to read precision / recall at")
    parser.add_argument("--genres", nargs="*", default=[],
                        help="genres to show at each model's operating point")
    parser.add_argument("--gate", action="store_true",
                        help="the two models named are the active one and a candidate: exit 1 "
                             "when the candidate is worse on the document figures")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help="with --gate, how far below the active model's a figure may be")
    args = parser.parse_args(argv)
    if args.gate:
        if len(args.models) != 2:
            parser.error("--gate takes two models: the active one, then the candidate")
        if not 0 <= args.tolerance <= 1:
            parser.error("--tolerance is a share of a figure, from 0 to 1")
        code, checks = measured(args.models, lambda model_dirs: gate(
            *model_dirs, args.documents or GATE_DOCUMENTS, tolerance=args.tolerance))
        if code == 0:
            print(gate_markdown(checks, args.tolerance))
            code = 0 if all(check["passes"] for check in checks) else 1
        return code
    if args.documents is not None and len(args.documents) > 1:
        parser.error("--documents takes one file, except with --gate")
    documents = args.documents[0] if args.documents else DEFAULT_DOCUMENTS
    code, rows = measured(args.models, lambda model_dirs: compare(
        model_dirs, documents, thresholds=args.thresholds, genres=args.genres))
    if code == 0:
        print(markdown(rows, args.thresholds, args.genres))
    return code


if __name__ == "__main__":
    sys.exit(main())
