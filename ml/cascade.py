"""Fit a reader to the fast model: the screen threshold, the int8 check, the pointer.

    python -m ml.cascade --reader models_cache/<version> [--model models_cache] [--set-reader]

The fast model scores the development documents through the scan path. Then the reader's
precision on the CPU: its int8 graphs are tried cheapest first (INT8_TRIED: a few layers'
feed-forward outputs in fp32, then whole layers from the input side), and the first whose
cascade reads those documents within ``--max-f1-lost`` (0.02) F1 of the cascade of the
reader in fp32 is written to the folder (``model.int8.onnx``, which the service loads as it
is); where none does the folder has none and the reader serves in fp32. The screen
threshold is the highest fast-model
score that still passes on at least ``--keep`` (97%) of the findings the reader alone makes
there (read off its scores, not a grid), and the same again for each document shape
(lines, report, prose: cascade_model.shape_of) whose documents hold SHAPE_FINDINGS of the
reader's findings (with ``--shapes``); the share of sentences it passes is reported
per genre, on the development and the test documents, and the cascade's figures there
within the reading budget (``--budget``: READER_BUDGET's default), which the gate of a
background training reads. All of it is written to the reader's
``screen.json``, which the service reads (service/analysis/cascade_model.py), and to its model
card; ``--set-reader`` then points ``models_cache/reader`` at it.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ml.documents import read_documents, score_documents
from service.analysis.cascade_model import BUDGET, priority, within_budget
from service.analysis.model_folder import INT8_ONNX, READER, SCREEN_JSON, ModelFolder, point
from service.setting_types import share_or_off

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = REPO_ROOT / "ml" / "data" / "documents"
KEEP = 0.97
#: A document shape gets a screen threshold of its own where the development documents of
#: that shape hold this many of the reader's findings: 3% of fewer is not one finding.
SHAPE_FINDINGS = 30
#: An int8 graph may read the development documents this much worse (F1, the cascade's,
#: each at its own screen) than the reader in fp32: about three findings of the 54, the
#: tolerance of the gate a background reader meets (service/serving/regressions.py). The
#: rule was 98% of fp32's labels on the validation sentences, which one-epoch readers
#: missed on the cheap graph (97.7%) whose documents read within 0.01-0.03 F1 of the
#: graph they got instead, at about half the reader's time (docs/experiments/2026-11-30-a-
#: fresh-clone-and-the-readers-int8.md).
MAX_F1_LOST = 0.02


@dataclass(frozen=True)
class Budget:
    """A reading budget as Cascade serves it: the share of a document's sentences the reader
    reads, those the fast model scores nearest its operating point first."""

    share: float
    fast_point: float


@dataclass(frozen=True)
class Int8Graph:
    """What an int8 graph of the reader keeps in fp32: its first ``layers`` encoder layers
    whole, and the feed-forward output of each layer in ``outputs``."""

    layers: int = 0
    outputs: tuple[int, ...] = ()

    def __str__(self) -> str:
        kept = [f"layers 0-{self.layers - 1}"] if self.layers else []
        if self.outputs:
            kept.append(f"the feed-forward outputs of layers {self.outputs[0]}-{self.outputs[-1]}")
        return " and ".join(kept) or "nothing"


#: The reader's int8 graphs tried, cheapest first. all-mpnet-base-v2 loses most of int8's
#: labels in the feed-forward outputs of its layers 4-7 (layer 7's alone: 2.5%); kept whole,
#: it needs its first 8 layers in fp32 (docs/experiments/2026-11-26-int8-layer-by-layer.md).
INT8_TRIED = (Int8Graph(outputs=(4, 5, 6, 7)), Int8Graph(outputs=tuple(range(12))),
              Int8Graph(layers=3), Int8Graph(layers=6), Int8Graph(layers=8),
              Int8Graph(layers=10))


def reader_findings(scored, point: float) -> list[set[tuple[int, int]]]:
    """The spans of each document's sentences that the reader alone reports at ``point``."""
    return [{(s.start, s.end) for s in sentences if s.score >= point} for sentences in scored]


def choose_screen(fast_scored, reader_scored, reader_point: float, keep: float = KEEP
                  ) -> tuple[float, float | None]:
    """(threshold, share kept): the highest fast-model score at which the screen passes on at
    least ``keep`` of the reader's findings, and the share it keeps there.

    Read off the fast model's scores of those findings, not a grid: its calibrated scores of
    plainly neutral sentences crowd just above its floor (about half of them between 0.03
    and 0.04 for the shipped model), so a step of 0.01 there doubles what the reader reads.
    The scores are rounded to 4 places; 0.0001 below keeps what the rounding lifted."""
    wanted = reader_findings(reader_scored, reader_point)
    total = sum(len(spans) for spans in wanted)
    if total == 0:
        return 0.0, None
    fast = [{(s.start, s.end): s.score for s in sentences} for sentences in fast_scored]
    scores = sorted((fast_scores.get(span, 0.0) for spans, fast_scores in zip(wanted, fast)
                     for span in spans), reverse=True)
    needed = max(1, math.ceil(keep * total - 1e-9))  # the findings it must pass on
    threshold = max(0.0, round(scores[needed - 1] - 0.0001, 4))
    kept = sum(score >= threshold for score in scores)
    return threshold, round(kept / total, 4)


def document_shape(document) -> str:
    """The shape the service screens ``document`` by (cascade_model.shape_of)."""
    return _shape_of_text(document.text)


@functools.lru_cache(maxsize=4096)
def _shape_of_text(text: str) -> str:
    """Cached by text: a fit asks of each development document three times, and reading
    one is spaCy's segmentation."""
    from service.analysis.cascade_model import shape_of
    from service.analysis.reading import sentences_of

    return shape_of(sentences_of(text))


def screened_at(document, threshold: float, shapes: dict[str, float] | None) -> float:
    """The threshold ``document`` is screened at: its shape's where ``shapes`` has one."""
    return shapes.get(document_shape(document), threshold) if shapes else threshold


def choose_shapes(documents, fast_scored, reader_scored, reader_point: float,
                  keep: float = KEEP) -> dict[str, dict]:
    """Per document shape, ``choose_screen`` on that shape's documents alone: {shape:
    {"screen", "kept", "findings"}}. A shape whose documents hold fewer than SHAPE_FINDINGS
    of the reader's findings is left out (it is screened at the one threshold)."""
    members: dict[str, list[int]] = {}
    for index, document in enumerate(documents):
        members.setdefault(document_shape(document), []).append(index)
    chosen = {}
    for shape, indices in sorted(members.items()):
        reader = [reader_scored[i] for i in indices]
        findings = sum(map(len, reader_findings(reader, reader_point)))
        if findings >= SHAPE_FINDINGS:
            threshold, kept = choose_screen([fast_scored[i] for i in indices], reader,
                                            reader_point, keep)
            chosen[shape] = {"screen": threshold, "kept": kept, "findings": findings}
    return chosen


def kept_share(documents, fast_scored, reader_scored, reader_point: float, threshold: float,
               shapes: dict[str, float]) -> float | None:
    """The share of the reader's own findings the screen passes on, each document at its
    shape's threshold where ``shapes`` has one."""
    kept = total = 0
    for document, fast, wanted in zip(documents, fast_scored,
                                      reader_findings(reader_scored, reader_point)):
        at = screened_at(document, threshold, shapes)
        scores = {(s.start, s.end): s.score for s in fast}
        kept += sum(scores.get(span, 0.0) >= at for span in wanted)
        total += len(wanted)
    return round(kept / total, 4) if total else None


def passed_shares(documents, fast_scored, threshold: float,
                  shapes: dict[str, float] | None = None) -> dict[str, float]:
    """The share of judged sentences the screen passes on, per genre and over all (each
    document at its shape's threshold where ``shapes`` has one)."""
    passed, judged = Counter(), Counter()
    for document, sentences in zip(documents, fast_scored):
        at = screened_at(document, threshold, shapes)
        for key in (document.genre, "all"):
            judged[key] += len(sentences)
            passed[key] += sum(s.score >= at for s in sentences)
    return {key: round(passed[key] / judged[key], 4) for key in sorted(judged) if judged[key]}


def cascade_f1(documents, fast_scored, reader_scored, reader_point: float,
               keep: float = KEEP, budget: Budget | None = None) -> float:
    """The cascade's F1 on ``documents`` at the reader's point, behind the one screen
    threshold ``choose_screen`` gives these scores (within ``budget``)."""
    threshold, _ = choose_screen(fast_scored, reader_scored, reader_point, keep)
    scored = cascade_scored(documents, fast_scored, reader_scored, threshold, None,
                            reader_point, budget)
    return _figures(documents, scored, reader_point)["f1"]


def choose_int8(fp32, documents, fast_scored, *, keep: float = KEEP,
                max_f1_lost: float = MAX_F1_LOST, tried: tuple[Int8Graph, ...] = INT8_TRIED,
                budget: Budget | None = None) -> tuple[dict, list]:
    """Write the first of the reader's int8 graphs ``tried`` whose cascade reads the
    development ``documents`` within ``max_f1_lost`` F1 of the reader in fp32 (``fp32``, an
    analyzer of its folder); none when no graph does. Returns what each try gave (for
    screen.json and the model card: ``fp32`` is what the kept graph keeps in fp32, in
    words, None when none is kept) and the documents' scores of the reader as it will be
    served, which the screen is then chosen on. Each cascade is read within ``budget``."""
    from service.analysis.onnx_model import save_int8
    from service.analysis.transformer import TransformerAnalyzer

    reader_dir, point = Path(fp32.model_dir), fp32.min_score
    fp32_scored = score_documents(fp32, documents)
    fp32_f1 = cascade_f1(documents, fast_scored, fp32_scored, point, keep, budget)
    tries = {}
    for graph in tried:
        save_int8(reader_dir, graph.layers, graph.outputs)
        scored = score_documents(TransformerAnalyzer(reader_dir, quantize="int8"), documents)
        tries[str(graph)] = f1 = cascade_f1(documents, fast_scored, scored, point, keep,
                                            budget)
        if f1 >= fp32_f1 - max_f1_lost:
            return {"documents": len(documents), "max_f1_lost": max_f1_lost,
                    "fp32_f1": fp32_f1, "fp32": str(graph), "fp32_layers": graph.layers,
                    "fp32_outputs": list(graph.outputs), "f1": f1, "tried": tries}, scored
    ModelFolder(reader_dir).file(INT8_ONNX).unlink()
    return {"documents": len(documents), "max_f1_lost": max_f1_lost, "fp32_f1": fp32_f1,
            "fp32": None, "f1": None, "tried": tries}, fp32_scored


def cascade_of(fast, reader_dir: Path, budget: float | None = BUDGET):
    """The cascade of the analyzer ``fast`` and the reader in ``reader_dir``, as the service
    serves it on the CPU (READER_QUANTIZE=auto: the reader's checked int8 graph where its
    folder has one, else fp32; behind the threshold of its screen.json), within ``budget``
    (READER_BUDGET's default; None: none)."""
    from service.analysis.cascade_model import Cascade, read_screen, read_shapes
    from service.analysis.transformer import TransformerAnalyzer

    quantize = "int8" if ModelFolder(reader_dir).has(INT8_ONNX) else "none"
    return Cascade(fast, TransformerAnalyzer(reader_dir, quantize=quantize),
                   threshold=read_screen(reader_dir), shapes=read_shapes(reader_dir),
                   budget=budget)


def fit(model_root: Path, reader_dir: Path, *, dev_path: Path, test_path: Path | None,
        keep: float = KEEP, max_f1_lost: float = MAX_F1_LOST, shapes: bool = False,
        budget: float | None = BUDGET) -> dict:
    """What screen.json holds for ``reader_dir`` behind the fast model of ``model_root``; the
    reader's int8 graph is written first (``choose_int8``), so that it is what is measured,
    and its figures (the int8 check's, the gate's) are the cascade's within ``budget``."""
    from service.analysis.transformer import TransformerAnalyzer

    fast = TransformerAnalyzer(model_root)
    dev = read_documents(dev_path)
    dev_fast = score_documents(fast, dev)
    reader = TransformerAnalyzer(reader_dir, runtime="onnx", quantize="none")
    within = None if budget is None else Budget(budget, fast.min_score)
    int8, dev_reader = choose_int8(reader, dev, dev_fast, keep=keep, max_f1_lost=max_f1_lost,
                                   budget=within)
    threshold, kept = choose_screen(dev_fast, dev_reader, reader.min_score, keep)
    by_shape = (choose_shapes(dev, dev_fast, dev_reader, reader.min_score, keep)
                if shapes else {})
    at = {shape: chosen["screen"] for shape, chosen in by_shape.items()}
    passed = {"dev": passed_shares(dev, dev_fast, threshold, at)}
    if test_path is not None:
        test = read_documents(test_path)
        passed["test"] = passed_shares(test, score_documents(fast, test), threshold, at)
    if at:
        kept = kept_share(dev, dev_fast, dev_reader, reader.min_score, threshold, at)
    beside = documents_beside(dev, dev_fast, fast.min_score, dev_reader, reader.min_score,
                              threshold, at, within)
    return {"screen": threshold, "shapes": at, "by_shape": by_shape, "keep": keep,
            "budget": budget, "kept_on_dev": kept, "documents": {"dev": beside},
            "fast_model": fast.version, "reader_model": reader.version,
            "reader_min_score": reader.min_score, "passed": passed, "int8": int8}


def cascade_scored(documents, fast_scored, reader_scored, threshold: float,
                   shapes: dict[str, float] | None, reader_point: float = 0.0,
                   budget: Budget | None = None) -> list[list]:
    """What the cascade makes of each document's sentences, read off both models' scores:
    the reader's answer where the screen passes the sentence on, else nothing (score 0).
    Within ``budget`` as Cascade reads: past it, the fast model's answer at its own point,
    scored at ``reader_point`` where it is a risk there."""
    from ml.documents import Scored

    made = []
    for document, fast, reader in zip(documents, fast_scored, reader_scored, strict=True):
        at = screened_at(document, threshold, shapes)
        passed = [index for index, s in enumerate(fast) if s.score >= at]
        read = passed if budget is None else within_budget(
            [priority(s.score, budget.fast_point) for s in fast], passed, budget.share)
        spans = {(fast[index].start, fast[index].end) for index in read}
        # Past the budget (nothing is, without one) the fast model answers: a risk at its own
        # point counts as one at the reader's.
        past = {(s.start, s.end): Scored(s.start, s.end, s.category, reader_point)
                for s in (fast[index] for index in set(passed) - set(read))
                if s.score >= budget.fast_point}
        made.append([s if (s.start, s.end) in spans
                     else past.get((s.start, s.end), Scored(s.start, s.end, s.category, 0.0))
                     for s in reader])
    return made


def documents_beside(documents, fast_scored, fast_point: float, reader_scored,
                     reader_point: float, threshold: float,
                     shapes: dict[str, float] | None, budget: Budget | None = None) -> dict:
    """The development documents' precision, recall and F1 for the fast model alone and for
    the cascade, each at its operating point: what the gate of a background training holds
    the reader to (service/serving/regressions.py: ``cascade_lost``)."""
    made = cascade_scored(documents, fast_scored, reader_scored, threshold, shapes,
                          reader_point, budget)
    return {"fast": _figures(documents, fast_scored, fast_point),
            "cascade": _figures(documents, made, reader_point)}


def _figures(documents, scored, point: float) -> dict:
    from ml.documents import metrics_at

    found = metrics_at(documents, scored, point)["all"]
    p, r = found["precision"] or 0.0, found["recall"] or 0.0
    return {"precision": found["precision"], "recall": found["recall"],
            "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0}


def card_section(screen: dict) -> str:
    """The model card's section on the cascade ("In the cascade"), without its heading."""
    rows = "\n".join(f"| {genre} | {screen['passed']['dev'].get(genre, '')} | "
                     f"{screen['passed'].get('test', {}).get(genre, '')} |"
                     for genre in sorted(set().union(*screen["passed"].values())))
    return (f"The reader of the fast model `{screen['fast_model']}`: a "
            f"sentence comes to it when the fast model scores it {screen['screen']:.2f} or "
            f"more, which keeps {screen['kept_on_dev']} of the findings this model alone "
            f"makes on the development documents (asked: {screen['keep']}).{shapes(screen)}"
            f"{budget(screen)} "
            f"{precision(screen)}\n\n"
            "| genre | share of sentences passed on, development | test |\n|---|---:|---:|\n"
            f"{rows}\n")


def shapes(screen: dict) -> str:
    """The thresholds per document shape, in a sentence (empty where there are none)."""
    if not screen.get("shapes"):
        return ""
    each = ", ".join(f"{shape} {chosen['screen']:.3f} ({chosen['findings']} findings)"
                     for shape, chosen in screen["by_shape"].items())
    return (f" A document is screened at its shape's threshold where the development "
            f"documents of that shape hold {SHAPE_FINDINGS} of its findings or more: {each}; "
            f"the others at {screen['screen']:.3f}.")


def budget(screen: dict) -> str:
    """The reading budget the development documents' figures were read within, in a sentence
    (empty where there was none)."""
    if not screen.get("budget"):
        return ""
    return (f" The reader reads at most {screen['budget']:.0%} of a document's sentences, "
            "those the fast model is least sure of, and the fast model answers the rest "
            "(READER_BUDGET).")


def precision(screen: dict) -> str:
    """How the reader is served on the CPU, and why, in a sentence."""
    int8 = screen["int8"]
    tried = "; ".join(f"{kept}: {f1}" for kept, f1 in int8["tried"].items())
    if not int8["fp32"]:
        return (f"Served in fp32 on the CPU: no int8 graph's cascade read the "
                f"{int8['documents']} development documents within {int8['max_f1_lost']} F1 "
                f"of fp32's ({int8['fp32_f1']}; by what each kept in fp32: {tried}).")
    return (f"Served in int8 on the CPU (ONNX Runtime, `model.int8.onnx`), with "
            f"{int8['fp32']} in fp32: its cascade reads the {int8['documents']} development "
            f"documents at F1 {int8['f1']} against fp32's {int8['fp32_f1']} (by what each "
            f"graph kept in fp32: {tried}).")


def write_screen(reader_dir: Path, screen: dict) -> None:
    """``screen`` to the reader's screen.json (what the service reads) and its card."""
    folder = ModelFolder(reader_dir)
    folder.write_json(SCREEN_JSON, screen)
    if folder.card() is not None:
        folder.write_card_section("In the cascade", card_section(screen))


def main(argv: list[str] | None = None) -> int:
    from service.analysis.transformer import resolve_model_dir

    parser = argparse.ArgumentParser(prog="python -m ml.cascade",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--reader", type=Path, required=True, help="the reader's model folder")
    parser.add_argument("--model", type=Path, default=REPO_ROOT / "models_cache",
                        help="the fast model: a folder, or a root whose `current` names one")
    parser.add_argument("--documents", type=Path, default=DOCUMENTS / "dev.jsonl",
                        help="development documents, to choose the threshold on")
    parser.add_argument("--test-documents", type=Path, default=DOCUMENTS / "test.jsonl",
                        help="test documents, for the share passed on only ('none' to skip)")
    parser.add_argument("--keep", type=float, default=KEEP,
                        help="share of the reader's own findings the screen must pass on")
    parser.add_argument("--max-f1-lost", type=float, default=MAX_F1_LOST,
                        help="the most F1 an int8 graph's cascade may lose on the development "
                             "documents against the reader in fp32")
    parser.add_argument("--shapes", action="store_true",
                        help="also a screen threshold per document shape (through the API it "
                             "cost what one threshold costs: docs/experiments/2026-11-28-the-"
                             "cascade-through-the-api.md; bench.cascade compares both)")
    parser.add_argument("--budget", type=share_or_off,
                        default=os.environ.get("READER_BUDGET", str(BUDGET)),
                        help="the reading budget the gate's figures are read within: a share "
                             "of a document's sentences, or off (default: READER_BUDGET, as "
                             "the service that trains the reader in the background reads it)")
    parser.add_argument("--set-reader", action="store_true",
                        help="point the reader's root's `reader` file at it")
    args = parser.parse_args(argv)
    reader_dir = resolve_model_dir(args.reader)
    test_path = None if str(args.test_documents).lower() == "none" else args.test_documents
    screen = fit(args.model, reader_dir, dev_path=args.documents, test_path=test_path,
                 keep=args.keep, max_f1_lost=args.max_f1_lost, shapes=args.shapes,
                 budget=args.budget)
    write_screen(reader_dir, screen)
    print(json.dumps(screen, indent=2))
    print(precision(screen), file=sys.stderr)
    if args.set_reader:
        pointer = point(reader_dir.parent, reader_dir.name, READER)
        print(f"{pointer} -> {reader_dir.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
