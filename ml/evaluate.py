"""Evaluate a trained model on any labelled JSONL file of sentences, or of documents.

    python -m ml.evaluate --model models_cache/<version> --data ml/data/test.jsonl [--out DIR]
    python -m ml.evaluate --model models_cache/<version> --documents ml/data/documents/test.jsonl

``--documents`` measures what a user sees, finding by finding, through the scan path
(ml/documents.py). What follows is about ``--data``.

The data is one JSON object a line with at least ``text`` and ``label`` (other fields are
ignored); every label must be one of ``service.analysis.labels.LABELS``. Sentences are
classified through ``TransformerAnalyzer.classify``, the code the service runs, so the
numbers measure what ships.

Prints exactly one JSON object on stdout:

- ``n``: number of sentences; ``model_version``; ``data``: the file evaluated;
- ``accuracy``;
- ``macro_f1``: unweighted mean F1 over ``labels_scored``, the labels that occur in the data
  or in the predictions (a label absent from both says nothing about the model);
- ``per_label``: ``{label: {precision, recall, f1, support}}`` for those labels;
- ``risk_detection``: precision/recall/F1 of "is a risk" (any label but ``none``), i.e. of
  the service returning a finding at all.

Logs and progress go to stderr. With ``--out DIR`` it also writes ``DIR/metrics.json`` (the
same object), ``DIR/confusion_matrix.png`` and ``DIR/predictions.jsonl`` (each sentence with
its gold label, predicted label and score) for error analysis.

Exit status: 0 on success, 2 for unusable input (missing file, bad line, unknown label).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from ml.jsonl import records
from service.analysis.labels import LABELS, NONE
from service.analysis.model_folder import METRICS_JSON, ModelFolder


class InvalidDataError(ValueError):
    """The evaluation data cannot be used as it is."""


def read_labelled_jsonl(path: Path) -> tuple[list[str], list[str]]:
    """(texts, labels) of a JSONL file of {"text", "label", ...}; raises InvalidDataError."""
    texts, labels, _ = read_labelled_rows(path)
    return texts, labels


def read_labelled_rows(path: Path) -> tuple[list[str], list[str], list[str]]:
    """(texts, labels, contexts) of a JSONL file of {"text", "label", ...}: a real document's
    row has the context built from its section ``heading`` and ``previous`` sentence
    (service/analysis/context.py); any other row has none (""). Raises InvalidDataError."""
    from service.analysis.context import context_text

    texts: list[str] = []
    labels: list[str] = []
    contexts: list[str] = []
    for where, record in records(path, InvalidDataError):
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise InvalidDataError(f"{where}: no \"text\" string")
        if record.get("label") not in LABELS:
            raise InvalidDataError(
                f"{where}: label {record.get('label')!r} is not one of {', '.join(LABELS)}")
        texts.append(record["text"])
        labels.append(record["label"])
        heading, previous = record.get("heading"), record.get("previous")
        has_context = isinstance(heading, str) and isinstance(previous, str)
        contexts.append(context_text(heading, previous) if has_context else "")
    if not texts:
        raise InvalidDataError(f"{path}: no labelled sentences")
    return texts, labels, contexts


def compute_metrics(gold: list[str], predicted: list[str]) -> dict:
    """accuracy, macro_f1, per_label and risk_detection (see the module docstring)."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    present = set(gold) | set(predicted)
    scored = [label for label in LABELS if label in present]
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=scored, zero_division=0)
    per_label = {
        label: {
            "precision": round(float(p), 4), "recall": round(float(r), 4),
            "f1": round(float(f), 4), "support": int(s),
        }
        for label, p, r, f, s in zip(scored, precision, recall, f1, support)
    }
    gold_risk = [label != NONE for label in gold]
    predicted_risk = [label != NONE for label in predicted]
    risk_p, risk_r, risk_f, _ = precision_recall_fscore_support(
        gold_risk, predicted_risk, average="binary", pos_label=True, zero_division=0)
    return {
        "n": len(gold),
        "accuracy": round(float(accuracy_score(gold, predicted)), 4),
        "macro_f1": round(float(sum(f1) / len(scored)), 4),
        "labels_scored": scored,
        "per_label": per_label,
        "risk_detection": {
            "precision": round(float(risk_p), 4), "recall": round(float(risk_r), 4),
            "f1": round(float(risk_f), 4),
        },
    }


def save_confusion_matrix(gold: list[str], predicted: list[str], path: Path, title: str) -> None:
    """A PNG of the confusion matrix over all LABELS: counts, coloured by row share."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.metrics import confusion_matrix

    counts = confusion_matrix(gold, predicted, labels=list(LABELS))
    row_share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    figure, axes = plt.subplots(figsize=(9, 8), dpi=110)
    axes.imshow(row_share, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(LABELS)), LABELS, rotation=45, ha="right")
    axes.set_yticks(range(len(LABELS)), LABELS)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    for row in range(len(LABELS)):
        for column in range(len(LABELS)):
            if counts[row, column]:
                axes.text(column, row, str(counts[row, column]), ha="center", va="center",
                          color="white" if row_share[row, column] > 0.5 else "black", fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def evaluate(model_dir: Path, data_path: Path, out_dir: Path | None = None, *,
             batch_size: int = 64) -> dict:
    """Classify ``data_path`` with the model in ``model_dir``; metrics (and files in out_dir)."""
    from service.analysis.transformer import TransformerAnalyzer

    texts, gold, contexts = read_labelled_rows(data_path)
    analyzer = TransformerAnalyzer(model_dir, batch_size=batch_size)
    print(f"classifying {len(texts)} sentences from {data_path} with {analyzer.version} "
          f"on {analyzer.device}", file=sys.stderr)
    inputs = analyzer.input_mode.inputs(texts, contexts)
    results = analyzer.classify(inputs, progress=True)
    predicted = [label for label, _ in results]
    metrics = {"model_version": analyzer.version, "data": str(data_path),
               **compute_metrics(gold, predicted)}
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        ModelFolder(out_dir).write_json(METRICS_JSON, metrics)
        save_confusion_matrix(gold, predicted, out_dir / "confusion_matrix.png",
                              f"{analyzer.version} on {Path(data_path).name} "
                              f"(macro-F1 {metrics['macro_f1']:.3f})")
        with (out_dir / "predictions.jsonl").open("w", encoding="utf-8") as out:
            for text, label, (prediction, score) in zip(texts, gold, results):
                out.write(json.dumps({"text": text, "label": label, "predicted": prediction,
                                      "score": round(score, 4)}, ensure_ascii=False) + "\n")
        print(f"wrote {out_dir}/metrics.json, confusion_matrix.png, predictions.jsonl",
              file=sys.stderr)
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.evaluate",
                                     description="Metrics of a trained model on a JSONL file.")
    parser.add_argument("--model", type=Path, required=True,
                        help="a model folder (models_cache/<version>) or models_cache itself, "
                             "meaning the version models_cache/current names")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="JSONL of {text, label}: sentence metrics")
    source.add_argument("--documents", type=Path,
                        help="JSONL of {id, text, risks: [{sentence, category}], genre?}: "
                             "document metrics through the scan path (ml/documents.py), "
                             "overall and per genre, and a precision-recall curve")
    parser.add_argument("--min-score", type=float, default=None,
                        help="with --documents: the operating point (default: the model's)")
    parser.add_argument("--wrap", type=int, default=None,
                        help="with --documents: hard-wrap them at this many columns first, "
                             "as e-mail and exported text are")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for metrics.json, confusion_matrix.png, predictions.jsonl")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)

    # stdout carries the one JSON object; anything a library prints goes to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        from ml.documents import InvalidDocumentsError, evaluate_documents
        from service.analysis.base import AnalysisError
        from service.analysis.transformer import resolve_model_dir

        try:
            model_dir = resolve_model_dir(args.model)
            if args.documents is not None:
                metrics = evaluate_documents(model_dir, args.documents, args.out,
                                             min_score=args.min_score, wrap=args.wrap)
            else:
                metrics = evaluate(model_dir, args.data, args.out, batch_size=args.batch_size)
        except (InvalidDataError, InvalidDocumentsError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except AnalysisError as error:
            print(f"error: {error.detail}", file=sys.stderr)
            return 2
    print(json.dumps(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
