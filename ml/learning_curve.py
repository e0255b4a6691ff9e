"""What a deployment gets from its users' corrections, simulated on writers the model never met:

    python -m ml.learning_curve --base models_cache/<version> [--group openssf]
                                [--k 0 5 10 20] [--seeds 13 14] [--held-out 14]
                                [--replay 2000] [--correction-weight W] [--adapt-steps N]

A group's reports (test documents of one foundation's groups, in the order of their paths:
a deployment's first weeks come first) stand for a customer. For each *k*, the model
scans the group's first *k* reports and a person teaches it what they would in the console:
a finding that is no risk is corrected to ``none``, a wrong category to the right one, a
right one confirmed, a risk the model left alone added. ``ml.finetune``'s code turns those
rows into a candidate, from the base's weights, replaying the training data, calibrated on
the development documents as a training in the product is. Every candidate is then read on
the group's last ``--held-out`` reports (the same for every *k*, never taught) and on the
42 standard test documents, at its own operating point and at the base's.
``--adapt-steps`` first adapts the base's encoder (ml.adapt) on the text of the group's
first reports, as a deployment would on its archive, and teaches that.

This is a simulation on test documents: the candidates are measured and thrown away, never
shipped; no shipped model trains on a test document. Prints one JSON object; ``--out``
keeps it and each row as it lands.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from ml.documents import Document, metrics_at, read_documents, score_documents
from ml.finetune import CorrectionsTrainer, finetune_config, split_corrections
from ml.recipe import DEV_DOCUMENTS, NEW_WRITERS_DOCUMENTS, TEST_DOCUMENTS
from ml.scorecard import SETS

#: A customer: the test reports of one foundation's groups, by the start of their ids; or
#: "new-writers": the yardstick of 70 writer groups (its own file), as a deployment whose
#: writers are all new to the model, as the issue's check of 40 reports was.
GROUPS = {"openssf": ("project-report/openssf-",), "cdf": ("project-report/cdf-",),
          "status-updates": ("status-update/",), "new-writers": ("",)}


def teaching(document: Document, scored, min_score: float) -> list[dict]:
    """The rows a person gives on one scanned report: corrections of what was shown and the
    risks added by hand (sentences the scan path judged; a risk is the sentence covering at
    least half of a labelled one, as ``metrics_at`` counts it)."""
    from service.analysis.reading import judged

    by_span = {(s.start, s.end): s for s in scored}
    rows = []
    for sentence in judged(document.text):
        gold = next((category for start, end, category in document.risks
                     if (min(end, sentence.end) - max(start, sentence.start)) * 2
                     >= end - start), "none")
        found = by_span.get((sentence.start, sentence.end))
        shown = found is not None and found.score >= min_score
        if shown or gold != "none":  # shown: corrected or confirmed; not shown: added
            rows.append({"text": sentence.text, "label": gold, "context": sentence.context,
                         "source": f"simulated/{document.id}"})
    return rows


class SimulatedDeployment(CorrectionsTrainer):
    """A training from a simulated deployment's corrections. Training refuses every sentence
    of the evaluation documents (ml/correction_rows.py), and the group's reports are test documents:
    here only what this simulation measures is refused (the group's held-out reports, and
    the splits' validation and test sentences as always); its first reports are what its
    users teach."""

    def __init__(self, config, contexts: dict[str, str], measured: list[str]):
        super().__init__(config, contexts)
        self.measured = measured

    def held_out_documents(self) -> list[str]:
        return self.measured


def measure(model_dir: Path, held_out: list[Document], standard: list[Document],
            base_point: float | None = None) -> dict:
    """Precision, recall and F1 on the held-out reports and the 42, at the model's own
    operating point, and at the base's too where ``base_point`` is given (a candidate's
    own point, recalibrated on a few rows more, can move it more than what it learnt)."""
    from service.analysis.transformer import TransformerAnalyzer

    analyzer = TransformerAnalyzer(model_dir)
    scored = {name: (documents, score_documents(analyzer, documents))
              for name, documents in (("held_out", held_out), ("the_42", standard))}

    def at(point: float) -> dict:
        figures = {}
        for name, (documents, found) in scored.items():
            overall = metrics_at(documents, found, point)["all"]
            precision, recall = overall["precision"] or 0.0, overall["recall"] or 0.0
            figures[name] = {"precision": precision, "recall": recall,
                             "f1": round(2 * precision * recall / (precision + recall), 4)
                             if precision + recall else 0.0}
        return figures

    figures = {"min_score": analyzer.min_score, **at(analyzer.min_score)}
    if base_point is not None:
        figures["at_base_point"] = at(base_point)
    return figures


def candidate(base: Path, rows: list[dict], seed: int, work: Path, measured: list[str], *,
              replay: int, epochs: int, correction_weight: float | None = None) -> Path:
    """A fine-tuned copy of ``base`` on ``rows``, calibrated on the development documents."""
    corrections = work / f"taught-{seed}.jsonl"
    corrections.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows),
                        encoding="utf-8")
    plain = work / f"plain-{seed}.jsonl"
    contexts = split_corrections(corrections, plain)
    config = finetune_config(base, work, f"k{len(rows)}-s{seed}", plain, replay=replay,
                             epochs=epochs, learning_rate=5e-5, documents=True, seed=seed)
    config = dataclasses.replace(config, calibration_documents=DEV_DOCUMENTS,
                                 test_documents=None)
    if correction_weight is not None:  # else the base's recipe's
        config = dataclasses.replace(config, correction_weight=correction_weight)
    return SimulatedDeployment(config, contexts, measured).train()


def learning_curve(base: Path, group: str, ks: list[int], seeds: list[int], held_out: int,
                   *, replay: int = 2000, epochs: int = 2, correction_weight: float | None = None,
                   adapt_steps: int = 0, out: Path | None = None) -> dict:
    documents = read_documents(TEST_DOCUMENTS)
    group_documents = (read_documents(NEW_WRITERS_DOCUMENTS) if group == "new-writers"
                       else documents)
    members = sorted((d for d in group_documents if d.id.startswith(GROUPS[group])),
                     key=lambda d: d.id)
    if max(ks) + held_out > len(members):
        raise SystemExit(f"{group} has {len(members)} reports: k ≤ {len(members) - held_out}")
    kept, taught_from = members[-held_out:], members[:max(ks)]
    standard = [d for d in documents if SETS["42"](d)]
    base_figures = measure(base, kept, standard)
    from service.analysis.transformer import TransformerAnalyzer

    analyzer = TransformerAnalyzer(base)
    scored = score_documents(analyzer, taught_from)
    result = {"base": base.name, "group": group, "reports": len(members), "replay": replay,
              "correction_weight": correction_weight, "adapt_steps": adapt_steps,
              "held_out": [d.id for d in kept], "rows": [{"k": 0, **base_figures}]}
    with contextlib.ExitStack() as stack:
        taught_base = base
        if adapt_steps:  # the deployment's archive: its first reports' text, unlabelled
            taught_base = adapted_base(base, taught_from, Path(stack.enter_context(
                tempfile.TemporaryDirectory(prefix="adapted-"))), adapt_steps, seeds[0])
        curve_rows(result, taught_base, ks, seeds, taught_from, scored, analyzer.min_score,
                   kept, standard, replay=replay, epochs=epochs,
                   correction_weight=correction_weight, out=out)
    result["summary"] = summary(result["rows"])
    return result


def adapted_base(base: Path, archive: list[Document], work: Path, steps: int, seed: int) -> Path:
    """``base`` with its encoder adapted (ml.adapt) on the archive's sentences."""
    from ml.adapt import adapted_classifier
    from service.analysis.reading import judged

    sentences = [sentence.text for document in archive for sentence in judged(document.text)]
    return adapted_classifier(base, sentences, work / base.name, steps=steps, seed=seed)


def curve_rows(result: dict, base: Path, ks: list[int], seeds: list[int],
               taught_from: list[Document], scored, base_point: float, kept: list[Document],
               standard: list[Document], *, replay: int, epochs: int,
               correction_weight: float | None, out: Path | None) -> None:
    """Each k's candidates, trained from ``base`` and measured, appended to the result."""
    for k in (k for k in ks if k > 0):
        rows = [row for document, found in zip(taught_from[:k], scored[:k])
                for row in teaching(document, found, base_point)]
        for seed in seeds:
            with tempfile.TemporaryDirectory(prefix="curve-") as work:
                model = candidate(base, rows, seed, Path(work), [d.text for d in kept],
                                  replay=replay, epochs=epochs, correction_weight=correction_weight)
                figures = measure(model, kept, standard, base_point=base_point)
                shutil.rmtree(model, ignore_errors=True)
            result["rows"].append({"k": k, "seed": seed, "taught_rows": len(rows),
                                   "risks_taught": sum(r["label"] != "none" for r in rows),
                                   **figures})
            if out is not None:
                out.write_text(json.dumps(result, indent=2) + "\n")


def summary(rows: list[dict]) -> list[dict]:
    """Per k: the seeds' mean precision, recall and F1 on the held-out reports and on the
    42, at each candidate's own point and (``base_point_…``) at the base's (the base's row
    is at its own, which is the base's)."""
    def mean(at: list[dict], where: str, figure: str) -> float:
        return round(statistics.mean(r[where][figure] for r in at), 4)

    table = []
    for k in sorted({row["k"] for row in rows}):
        at = [row for row in rows if row["k"] == k]
        at_base = [row.get("at_base_point", row) for row in at]
        table.append({"k": k, "seeds": len(at), **{
            f"{prefix}{where}_{figure}": mean(found, where, figure)
            for prefix, found in (("", at), ("base_point_", at_base))
            for where in ("held_out", "the_42") for figure in ("precision", "recall", "f1")}})
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.learning_curve",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="the model folder taught")
    parser.add_argument("--group", choices=sorted(GROUPS), default="openssf")
    parser.add_argument("--k", type=int, nargs="+", default=[0, 5, 10, 20])
    parser.add_argument("--seeds", type=int, nargs="+", default=[13, 14])
    parser.add_argument("--held-out", type=int, default=14)
    parser.add_argument("--replay", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--correction-weight", type=float, default=None,
                        help="a correction's weight in training (default: the base's recipe's)")
    parser.add_argument("--adapt-steps", type=int, default=0,
                        help="first adapt the base's encoder on the group's first reports "
                             "(ml.adapt; masked-language steps, 0: not)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr):
        from service.analysis.transformer import resolve_model_dir

        result = learning_curve(resolve_model_dir(args.base), args.group, args.k, args.seeds,
                                args.held_out, replay=args.replay, epochs=args.epochs,
                                correction_weight=args.correction_weight,
                                adapt_steps=args.adapt_steps, out=args.out)
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
