"""A larger model's view of the training sentences, for a small one to learn from.

    python -m ml.distill --teacher models_cache/<version> [--out ml/data/teacher/scores.jsonl]
    python -m ml.distill --teacher models_cache/<version> --documents FILE.jsonl --out FILE
    python -m ml.distill --teacher models_cache/<version> --corpus ml/data/corpus --out FILE

A larger encoder finds risks better on writers never trained on, but trains and scans too
slowly for the 20-minute first ``make run`` and the service's throughput (docs/model.md,
"A larger encoder"). So it can be trained once, elsewhere, and its label probabilities
for every training sentence kept as data: ``ml.train --teacher-scores`` then trains the
shipped encoder towards them as well as towards the labels (knowledge distillation,
Hinton et al. 2015), at no cost to the budget. Measured and not taken yet (docs/model.md,
"Distilling the larger encoder").

With ``--documents`` it scores instead every sentence the scan path judges in real
documents nobody labelled (JSONL of ``{"text"}``), read as the service reads them: what a
teacher knows of unseen writers is on such sentences, and ``ml.train --teacher-documents``
trains on them with the teacher's probabilities as their only target.

With ``--corpus`` it scores the corpus's labelled sentences, each with the context the
trainer reads it with: soft targets on the writing of a thousand writers, where the
reader's view of writers the fast model never met is what might pass on (issue #73; on
the splits' sentences alone it did not, docs/experiments/2026-11-25-distilling-the-larger-
encoder.md). ``ml.train --teacher-scores`` then trains the corpus's rows towards them and
every other row towards its label. ``--quantize int8`` reads with the teacher's int8 graph,
as the cascade serves it, at about twice fp32's speed on a CPU.

Each line of the output is ``{"text", "context", "probabilities"}``: the sentence, the
context a model reads it with ("" for one written alone) and the teacher's probability of
each label in ``LABELS`` order, at temperature 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ml.jsonl import records
from ml.splits import load_split
from service.analysis.labels import LABELS

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "ml" / "data" / "teacher" / "scores.jsonl"


class InvalidTeacherScoresError(ValueError):
    """The teacher scores file cannot be used as it is."""


def teacher_probabilities(teacher_dir: Path, inputs: list[tuple[str, str]], *,
                          batch_size: int = 64, quantize: str = "none") -> list[list[float]]:
    """The teacher's label probabilities for each (sentence, context), in input order."""
    import torch

    from service.analysis.transformer import TransformerAnalyzer

    analyzer = TransformerAnalyzer(Path(teacher_dir), batch_size=batch_size, quantize=quantize)
    if list(analyzer.labels) != list(LABELS):
        raise SystemExit(f"{teacher_dir} has labels {analyzer.labels}, not {list(LABELS)}")
    probabilities = []
    for start in range(0, len(inputs), 1024):  # a progress line now and then
        logits = analyzer.logits(inputs[start:start + 1024])
        probabilities += torch.softmax(logits.float(), dim=-1).tolist()
        print(f"{start + len(logits)} of {len(inputs)} sentences", file=sys.stderr, flush=True)
    return probabilities


def document_inputs(path: Path) -> list[tuple[str, str]]:
    """Each distinct (sentence, context) the scan path judges in the documents of ``path``
    (JSONL with a ``"text"`` each): segmentation, the heading rule and the context exactly
    as ``TransformerAnalyzer.analyze`` builds them."""
    from service.analysis.reading import judged

    inputs: dict[tuple[str, str], None] = {}
    for where, record in records(path, InvalidTeacherScoresError):
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise InvalidTeacherScoresError(f"{where}: needs a \"text\" string")
        text = record["text"]
        inputs.update(dict.fromkeys(sentence.input(True) for sentence in judged(text)))
    return list(inputs)


def corpus_inputs(corpus_dir: Path) -> list[tuple[str, str]]:
    """Each distinct (sentence, context) of the corpus as the trainer reads it
    (ml/corpus.py's training_split), shortest first: a batch of alike lengths pads least."""
    from ml.corpus import training_split

    corpus = training_split(corpus_dir)
    return sorted(set(zip(corpus.texts, corpus.contexts)),
                  key=lambda pair: (len(pair[0]) + len(pair[1]), pair))


def write_scores(path: Path, inputs: list[tuple[str, str]],
                 probabilities: list[list[float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = (json.dumps({"text": text, "context": context,
                         "probabilities": [round(p, 4) for p in row]}, ensure_ascii=False)
             for (text, context), row in zip(inputs, probabilities))
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def read_scores(path: Path, *, temperature: float = 1.0
                ) -> dict[tuple[str, str], list[float]]:
    """Teacher probabilities by (sentence, context), at ``temperature`` (below 1 sharpens
    them: ``p ** (1 / T)``, summing to 1 again, as the softmax of the logits over T would);
    InvalidTeacherScoresError when a line is not one of ``write_scores``'s."""
    if not temperature > 0:
        raise InvalidTeacherScoresError(f"the temperature must be above 0, not {temperature}")
    scores = {}
    for where, record in records(path, InvalidTeacherScoresError):
        probabilities = record.get("probabilities") if isinstance(record, dict) else None
        if not (isinstance(record, dict) and isinstance(record.get("text"), str)
                and isinstance(record.get("context"), str)
                and isinstance(probabilities, list) and len(probabilities) == len(LABELS)
                and all(isinstance(p, int | float) and 0 <= p <= 1 for p in probabilities)
                and sum(probabilities) > 0):
            raise InvalidTeacherScoresError(
                f"{where}: needs \"text\", \"context\" and {len(LABELS)} \"probabilities\" "
                "in [0, 1], not all 0")
        powered = [p ** (1 / temperature) for p in probabilities]
        total = sum(powered)
        if not total > 0:  # every probability underflowed: the teacher's best label alone
            powered = [float(p == max(probabilities)) for p in probabilities]
            total = sum(powered)
        scores[record["text"], record["context"]] = [p / total for p in powered]
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.distill",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", type=Path, required=True, help="the teacher's model folder")
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / "ml" / "data",
                        help="folder with train.jsonl")
    parser.add_argument("--documents", type=Path, default=None,
                        help="score the sentences of these unlabelled documents (JSONL of "
                             "{\"text\"}) instead of the training split")
    parser.add_argument("--corpus", type=Path, default=None,
                        help="score this corpus's labelled sentences instead")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the scores file to write")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--quantize", choices=("none", "int8"), default="none",
                        help="the teacher's graph: int8 as the cascade serves it")
    args = parser.parse_args(argv)
    if args.documents is not None and args.corpus is not None:
        parser.error("--documents and --corpus score different sentences: give one")
    if args.documents is not None:
        inputs = document_inputs(args.documents)
    elif args.corpus is not None:
        inputs = corpus_inputs(args.corpus)
    else:
        split = load_split(args.data_dir, "train")
        inputs = sorted(set(zip(split.texts, split.contexts)))  # one line per distinct reading
    write_scores(args.out, inputs, teacher_probabilities(
        args.teacher, inputs, batch_size=args.batch_size, quantize=args.quantize))
    print(f"wrote {args.out} ({len(inputs)} sentences)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
