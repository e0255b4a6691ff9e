"""Calibrate a trained model on real documents and choose its operating point.

    python -m ml.calibrate --model models_cache/<version> [--documents ml/data/documents/dev.jsonl]

The classifier's softmax is over-sure of itself on text unlike its training sentences, and a
threshold of 0.5 on "any risk" flags too many neutral lines of real documents. On the
development documents (never trained on) this fits one temperature to the risk scores of
every sentence the scan path judges (temperature scaling, Guo et al. 2017: minimum negative
log-likelihood of "states a risk"), then picks the operating point: the lowest ``min_score``
whose document precision reaches ``--precision`` (0.8) while it still finds
``--min-recall`` (0.4) of the risks, i.e. the most recall at that precision; where none
does, the one of best F0.5. That rule is read on ``--resamples`` (200) bootstrap resamples
of the documents and the median taken, so that no one document decides where users stand.
Both go into the model folder's ``calibration.json``, which the service reads;
``MODEL_MIN_SCORE`` and a scan's ``min_score`` can still move the threshold.

A temperature fitted on every sentence still leaves the scores a user sees over-sure on
writers the model never met (findings shown at 0.97–1.0 were risks 57% of the time). So a
logistic on the tempered score's log-odds (Platt scaling: two numbers, monotone, so no
threshold's findings change) is fitted on the development documents of held-out writers
(``HELD_OUT_WRITERS``) alone, and the operating point is chosen on the mapped scores. The
reliability table (shown findings by score bin: mean score against precision) on all the
documents says whether a score now means what it says.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import statistics
import sys
from pathlib import Path

from ml.documents import (
    Document,
    Scored,
    bootstrap_min_scores,
    choose_min_score,
    metrics_at,
    read_documents,
    reliability,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DOCUMENTS = REPO_ROOT / "ml" / "data" / "documents" / "dev.jsonl"
TEMPERATURES = [round(0.5 + 0.05 * step, 2) for step in range(91)]  # 0.5 … 5.0

#: Repositories of development documents whose writers no training row comes from: the
#: quarterly reports of OpenSSF and CD Foundation groups (other groups of the same
#: foundations are the test set's "46 other foundations"; tests/test_ml_documents.py checks
#: that no training row is theirs). Scores are mapped to be probabilities on *their* text.
HELD_OUT_WRITERS = ("ossf/tac", "cdfoundation/toc")
#: Fewer risks than this among the held-out writers' sentences fit no map: two numbers
#: fitted on a handful of positives would move every score on noise.
MIN_MAP_RISKS = 10
#: The map is fitted on the sentences whose tempered score is at least this: the findings
#: and near misses a person is shown, not the thousands of plain lines below.
MAP_FLOOR = 0.5


def judged_examples(analyzer, documents) -> tuple[list, list[int], list[list]]:
    """(what the classifier reads, 1 when the sentence overlaps a gold risk) for each
    sentence the scan path judges in ``documents``, and those sentences, per document."""
    from service.analysis.reading import placed

    texts: list = []
    targets = []
    judged = []
    for document in documents:
        inputs = placed(document.text)
        sentences = [item.sentence for item in inputs]
        texts.extend(inputs)  # each read as its model reads it: alone or with its context
        targets.extend(int(any(sentence.start < end and start < sentence.end
                               for start, end, _ in document.risks)) for sentence in sentences)
        judged.append(sentences)
    return texts, targets, judged


def scored_from_logits(analyzer, logits, judged: list[list]) -> list[list[Scored]]:
    """What ``score_documents`` gives, read off logits already computed: the same sentences
    and the same scores (``findings_of`` rounds a finding's score to 4 places), without a
    second pass of the classifier over the documents."""
    labelled = iter(analyzer.read_logits(logits))
    return [[Scored(sentence.start, sentence.end, category, round(score, 4))
             for sentence, (category, score) in zip(sentences, labelled)]
            for sentences in judged]


def risk_scores(logits, none_id: int, temperature: float) -> list[float]:
    import torch

    return (1 - torch.softmax(logits / temperature, dim=-1)[:, none_id]).tolist()


def negative_log_likelihood(scores: list[float], targets: list[int]) -> float:
    eps = 1e-7
    return -sum(math.log(min(max(s if t else 1 - s, eps), 1)) for s, t in
                zip(scores, targets)) / len(targets)


def expected_calibration_error(scores: list[float], targets: list[int], bins: int = 10
                               ) -> float:
    """Mean |accuracy − confidence| over equal-width bins of the risk score, weighted."""
    total, error = len(scores), 0.0
    for low in range(bins):
        members = [(s, t) for s, t in zip(scores, targets)
                   if low / bins <= s < (low + 1) / bins or (low == bins - 1 and s == 1)]
        if members:
            confidence = sum(s for s, _ in members) / len(members)
            accuracy = sum(t for _, t in members) / len(members)
            error += len(members) / total * abs(accuracy - confidence)
    return error


def of_held_out_writers(document: Document) -> bool:
    return (document.source or "").split("@")[0] in HELD_OUT_WRITERS


def fit_score_map(scores: list[float], targets: list[int], floor: float = MAP_FLOOR
                  ) -> tuple[float, float, float] | None:
    """(slope, intercept, floor) of P(risk) = σ(slope · logit(score) + intercept), fitted on
    the sentences scored at least ``floor`` (below it the service draws a line to 0:
    service/analysis/transformer.py, ``mapped``); None where they hold fewer than
    ``MIN_MAP_RISKS`` risks or the fit does not rise with the score (a map that would
    reorder findings)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from service.analysis.scores import log_odds

    kept = [(score, target) for score, target in zip(scores, targets) if score >= floor]
    if sum(target for _, target in kept) < MIN_MAP_RISKS or all(t for _, t in kept):
        return None
    features = log_odds(np.array([score for score, _ in kept]))[:, None]
    fit = LogisticRegression(C=1e6).fit(features, [t for _, t in kept])
    slope, intercept = float(fit.coef_[0][0]), float(fit.intercept_[0])
    return (round(slope, 6), round(intercept, 6), floor) if slope > 0 else None


def calibrate(model_dir: Path, documents_path: Path = DEFAULT_DOCUMENTS, *,
              precision: float = 0.8, min_recall: float = 0.4, resamples: int = 200) -> dict:
    """Fit, choose and write ``calibration.json`` into ``model_dir``; returns what it wrote."""
    return calibrate_and_score(model_dir, documents_path, precision=precision,
                               min_recall=min_recall, resamples=resamples)[0]


def calibrate_and_score(model_dir: Path, documents_path: Path = DEFAULT_DOCUMENTS, *,
                        precision: float = 0.8, min_recall: float = 0.4, resamples: int = 200
                        ) -> tuple[dict, list[Document], list[list[Scored]]]:
    """``calibrate``, and the documents with their calibrated scores, so that ml.train
    reports them without scoring them again."""
    from service.analysis.model_folder import CALIBRATION_JSON, ModelFolder
    from service.analysis.transformer import TransformerAnalyzer

    documents = read_documents(documents_path)
    calibration, scored = calibration_of(
        TransformerAnalyzer(model_dir), documents, Path(documents_path).name,
        precision=precision, min_recall=min_recall, resamples=resamples)
    ModelFolder(model_dir).write_json(CALIBRATION_JSON, calibration)
    return calibration, documents, scored


def calibration_of(analyzer, documents: list[Document], fitted_on: str, *,
                   precision: float = 0.8, min_recall: float = 0.4, resamples: int = 200
                   ) -> tuple[dict, list[list[Scored]]]:
    """What calibration.json holds for ``analyzer`` on ``documents``, and their scores; the
    analyzer is left calibrated (its temperature and score map, its operating point). Apart
    from the folder so that a model scored elsewhere is calibrated alike
    (ml/reader_recipes.py)."""
    texts, targets, judged = judged_examples(analyzer, documents)
    logits = analyzer.logits(texts)
    none_id = analyzer.labels.index("none")
    temperature = min(TEMPERATURES, key=lambda t: negative_log_likelihood(
        risk_scores(logits, none_id, t), targets))
    before = risk_scores(logits, none_id, 1.0)
    tempered = risk_scores(logits, none_id, temperature)
    writers = [of_held_out_writers(document) for document in documents]
    held_out = [held for held, sentences in zip(writers, judged) for _ in sentences]
    score_map = fit_score_map([s for s, h in zip(tempered, held_out) if h],
                              [t for t, h in zip(targets, held_out) if h])
    analyzer.calibrate(temperature, 0.0, score_map=score_map)
    scored = scored_from_logits(analyzer, logits, judged)
    after = [sentence.score for sentences in scored for sentence in sentences]
    rule = {"precision": precision, "min_recall": min_recall}
    plain = choose_min_score(documents, scored, **rule)
    choices = bootstrap_min_scores(documents, scored, resamples=resamples, **rule)
    min_score = statistics.median_low(choices) if choices else plain
    held = [d for d, h in zip(documents, writers) if h]
    held_scored = [x for x, h in zip(scored, writers) if h]
    calibration = {
        "temperature": temperature,
        "min_score": min_score,
        "score_map": None if score_map is None else {
            "slope": score_map[0], "intercept": score_map[1], "floor": score_map[2],
            "fitted_on": f"{len(held)} documents of {', '.join(HELD_OUT_WRITERS)}"},
        "fitted_on": fitted_on,
        "documents": len(documents),
        "sentences": len(texts),
        "target_precision": precision,
        "min_recall": min_recall,
        "resamples": resamples,
        "min_score_on_all_documents": plain,
        "min_score_bootstrap_10_90": [round(statistics.quantiles(choices, n=10)[i], 2)
                                      for i in (0, -1)] if len(choices) > 1 else None,
        "expected_calibration_error": {"before": round(expected_calibration_error(
            before, targets), 4), "after": round(expected_calibration_error(after, targets), 4)},
        "at_operating_point": metrics_at(documents, scored, min_score)["all"],
        "reliability": reliability(documents, scored, min_score),
        "reliability_held_out_writers": reliability(held, held_scored, min_score),
    }
    analyzer.calibrate(temperature, min_score, score_map=score_map)
    return calibration, scored


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.calibrate",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a model folder")
    parser.add_argument("--documents", type=Path, default=DEFAULT_DOCUMENTS,
                        help="development documents, never trained on")
    parser.add_argument("--precision", type=float, default=0.8,
                        help="document precision the operating point must reach")
    parser.add_argument("--resamples", type=int, default=200,
                        help="bootstrap resamples of the documents the rule is read on; the "
                             "median is the operating point (0: the documents as they are)")
    parser.add_argument("--min-recall", type=float, default=0.4,
                        help="share of the risks the operating point must still find for "
                             "the precision target to count (else: best F0.5)")
    args = parser.parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr):
        from service.analysis.transformer import resolve_model_dir

        calibration = calibrate(resolve_model_dir(args.model), args.documents,
                                precision=args.precision, min_recall=args.min_recall,
                                resamples=args.resamples)
    print(json.dumps(calibration))
    return 0


if __name__ == "__main__":
    sys.exit(main())
