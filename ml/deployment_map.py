"""The score map refitted on a deployment's own reviewed findings (issue #60, item 5):

    python -m ml.deployment_map --model models_cache/<version> [--reports 20] [--out FILE]

A score is fitted to mean "the chance that this finding is a risk" on writers the model never
met (ml/calibrate.py, ``fit_score_map``); a deployment's writers are others again. Its people
say, finding by finding, how often the model is right there: a finding a person confirmed
(kept its category, or re-categorised it) is a risk, one they dismissed (corrected to
``none``) a false alarm; only corrections a reviewer accepted count (service/serving/
corrections.py). A training from corrections (ml/finetune.py) hands those sentences to
``refit``, which fits the map again on them and writes it into the candidate's
calibration.json, metrics.json, check.json and card. Risks added by hand carry no model
score and never enter the fit.

Where the model has a map (fitted on held-out writers), only its intercept is refitted on
the deployment's findings, its slope kept: after 20 reports a deployment has some 30 reviewed
findings, enough for one number, not for two (the measurement: docs/experiments/
2026-11-27-score-map-from-a-deployments-reviews.md; pooling them with the held-out writers'
sentences drowned them). A model without a map gets both numbers (``fit_score_map``).

The sentences are scored by the *base*'s logits (the model that showed them, which never
trained on them) at the candidate's temperature: the candidate has just learnt every one of
them, and its own scores of them would say how well it remembers, not how often it is right
on the next report. The map is monotone and the operating point is carried over in the
tempered scale, so the same findings are shown; only what their scores say changes.

Run as a module, it measures the refit (inference only): a person reviews the findings of the
first ``--reports`` reports of the 46 other foundations' (confirm the risks, dismiss the
false alarms, by the gold labels), the map is refitted, and the remaining reports' findings
are read by score bin before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from pathlib import Path

from ml.calibrate import MAP_FLOOR, MIN_MAP_RISKS, fit_score_map, risk_scores
from service.analysis.model_folder import CALIBRATION_JSON, CHECK_JSON, METRICS_JSON, ModelFolder

#: Fewer reviewed findings than this (scored at least the map's floor) keep the map as it
#: is: a map fitted on a handful of one deployment's findings would move every score on
#: noise. With 20, the one number refitted (``shifted``) has a standard error of about 0.1
#: in probability at the precisions seen (0.2–0.5): the goal's tolerance. Among them at
#: least one confirmed and one dismissed; a model without a map yet needs ``MIN_MAP_RISKS``
#: confirmed for the two numbers of ``fit_score_map``.
MIN_DEPLOYMENT_FINDINGS = 20
#: The 46 other foundations of the test documents: a deployment of writers never met.
UNSEEN_WRITERS = ("project-report/openssf-", "project-report/cdf-")


def reviewed(rows) -> list[dict]:
    """The corrections rows that are a model's finding a person reviewed (``shown``): each as
    ``{text, context, risk}``, ``risk`` 1 where it was confirmed, 0 where dismissed."""
    return [{"text": row["text"], "context": row.get("context") or "",
             "risk": int(row["label"] != "none")} for row in rows if row.get("shown")]


def tempered(analyzer, findings: list[dict], temperature: float) -> list[float]:
    """``analyzer``'s risk scores of ``findings`` at ``temperature``, unmapped."""
    inputs = [analyzer.input_mode.input((f["text"], f["context"])) for f in findings]
    if not inputs:
        return []
    return risk_scores(analyzer.logits(inputs), analyzer.labels.index("none"), temperature)


def inverse(score: float, score_map) -> float:
    """The tempered score that ``score_map`` (service/analysis/scores.py, ``mapped``) shows
    as ``score``: the operating point in the tempered scale."""
    if score_map is None:
        return score
    slope, intercept, floor = score_map
    start = 1 / (1 + math.exp(-(slope * _logit(floor) + intercept))) if floor > 0 else 0.0
    if floor > 0 and score < start:
        return score * floor / start
    return 1 / (1 + math.exp(-(_logit(score) - intercept) / slope))


def through(score: float, score_map) -> float:
    import numpy as np

    from service.analysis.scores import mapped

    return float(mapped(np.array([score], dtype=np.float64), score_map)[0])


def fit(scores: list[float], risks: list[int], *, floor: float = MAP_FLOOR,
        minimum: int = MIN_DEPLOYMENT_FINDINGS, shift_of=None) -> tuple[tuple | None, str]:
    """(slope, intercept, floor) fitted on the findings, or None, and why not. ``shift_of``:
    a map whose slope is kept, only its intercept refitted (one number, not two)."""
    counted = sum(score >= floor for score in scores)
    if counted < minimum:
        return None, f"{counted} reviewed findings scored from {floor}: fewer than {minimum}"
    if shift_of is not None:
        kept = [risk for score, risk in zip(scores, risks) if score >= floor]
        if all(kept) or not any(kept):
            return None, "the reviewed findings are all confirmed or all dismissed"
        return shifted(shift_of, scores, risks), ""
    score_map = fit_score_map(scores, risks, floor)
    if score_map is None:
        return None, (f"the reviewed findings hold fewer than {MIN_MAP_RISKS} confirmed risks, "
                      "no dismissal, or a fit that does not rise with the score")
    return score_map, ""


def shifted(score_map, scores: list[float], risks: list[int]) -> tuple:
    """``score_map`` with its intercept refitted on the findings from its floor up (maximum
    likelihood, slope kept: the intercept whose mean mapped score of the findings is their
    share of risks, found by bisection, the sum rising with the intercept)."""
    import numpy as np

    slope, _, floor = score_map
    kept = [(score, risk) for score, risk in zip(scores, risks) if score >= floor]
    base = slope * np.array([_logit(score) for score, _ in kept])
    wanted = sum(risk for _, risk in kept)
    low, high = -30.0, 30.0
    for _ in range(100):
        middle = (low + high) / 2
        if (1 / (1 + np.exp(-(base + middle)))).sum() < wanted:
            low = middle
        else:
            high = middle
    return (round(slope, 6), round((low + high) / 2, 6), floor)


def refit(model_dir: Path, findings: list[dict], *, scores_from: Path | None = None,
          minimum: int = MIN_DEPLOYMENT_FINDINGS) -> dict:
    """Refit ``model_dir``'s score map on the reviewed ``findings`` (``reviewed``), scored by
    ``scores_from`` (the base; default ``model_dir``) at ``model_dir``'s temperature, and
    write it into the folder; what was done (``deployment_score_map`` of its metrics.json)."""
    from service.analysis.check import write_check
    from service.analysis.transformer import TransformerAnalyzer

    model_dir = Path(model_dir)
    candidate = TransformerAnalyzer(model_dir)
    scorer = candidate if scores_from is None else TransformerAnalyzer(scores_from)
    scores = tempered(scorer, findings, candidate.temperature)
    risks = [f["risk"] for f in findings]
    old_map, old_min = candidate.score_map, candidate.min_score
    new_map, why_not = fit(scores, risks, minimum=minimum, shift_of=old_map)
    summary = {"deployment_findings": len(findings), "confirmed": sum(risks),
               "dismissed": len(risks) - sum(risks),
               "scored_from_floor": sum(s >= MAP_FLOOR for s in scores),
               "scored_by": (scores_from or model_dir).name, "minimum": minimum,
               "refitted": new_map is not None}
    if scores_from is not None and findings:
        own = tempered(candidate, findings, candidate.temperature)
        summary["candidate_own_score_shift"] = round(
            sum(abs(a - b) for a, b in zip(own, scores)) / len(own), 4)
    if new_map is None:
        summary["kept"] = why_not
        _record(model_dir, summary, calibration=None)
        return summary
    threshold = inverse(old_min, old_map)
    new_min = through(threshold, new_map)
    summary.update({
        "previous_map": None if old_map is None else dict(zip(("slope", "intercept", "floor"),
                                                              old_map)),
        "min_score": {"before": old_min, "after": round(new_min, 6),
                      "tempered": round(threshold, 6)},
        "reliability_of_the_reviewed": {
            "before": bins(scores, risks, old_map, threshold),
            "after": bins(scores, risks, new_map, threshold)}})
    folder = ModelFolder(model_dir)
    calibration = folder.object(CALIBRATION_JSON) or {"temperature": candidate.temperature}
    calibration["min_score"] = round(new_min, 6)
    calibration["score_map"] = {
        "slope": new_map[0], "intercept": new_map[1], "floor": new_map[2],
        "fitted_on": f"{len(findings)} findings reviewed in this deployment "
                     f"({sum(risks)} confirmed, {len(risks) - sum(risks)} dismissed)",
        "deployment_findings": len(findings)}
    calibration["score_map_before_deployment"] = summary["previous_map"]
    calibration["min_score_before_deployment"] = old_min
    folder.write_json(CALIBRATION_JSON, calibration)
    if folder.has(CHECK_JSON):  # the same findings, their new scores
        write_check(model_dir, TransformerAnalyzer(model_dir))
    _record(model_dir, summary, calibration=calibration)
    return summary


def bins(scores, risks, score_map, threshold: float, width: float = 0.1) -> list[dict]:
    """Findings shown (tempered score from ``threshold``) by bin of the mapped score: how
    many, their mean score, the share that are risks."""
    members: dict[int, list] = {}
    for score, risk in zip(scores, risks):
        if score >= threshold:
            shown = through(score, score_map)
            members.setdefault(min(int(shown / width), round(1 / width) - 1), []).append(
                (shown, risk))
    return [{"from": round(low * width, 2), "to": round((low + 1) * width, 2),
             "findings": len(found), "mean_score": round(sum(s for s, _ in found) / len(found), 4),
             "precision": round(sum(r for _, r in found) / len(found), 4)}
            for low, found in sorted(members.items())]


def _record(model_dir: Path, summary: dict, calibration: dict | None) -> None:
    """The refit in metrics.json (and its calibration, which the registry reads) and a
    section of the card, so that an admin sees it."""
    folder = ModelFolder(model_dir)
    metrics = folder.metrics()
    metrics["deployment_score_map"] = summary
    if calibration is not None and "calibration" in metrics:
        metrics["calibration"] = calibration
    folder.write_json(METRICS_JSON, metrics)
    if summary["refitted"]:
        said = (f"Refitted on {summary['deployment_findings']} findings this deployment's "
                f"reviewers decided ({summary['confirmed']} confirmed, {summary['dismissed']} "
                f"dismissed), scored by `{summary['scored_by']}`; the same findings are shown "
                f"(operating point {summary['min_score']['before']} → "
                f"{summary['min_score']['after']}).")
    else:
        said = f"Kept as it was: {summary['kept']}."
    folder.write_card_section("The score map and this deployment", said)


def _logit(p: float) -> float:
    p = min(max(p, 1e-7), 1 - 1e-7)
    return math.log(p) - math.log1p(-p)


# --- the measurement -----------------------------------------------------------------


def simulate(model_dir: Path, reports: int = 20, *, minimum: int = 0,
             min_findings: int = 20) -> dict:
    """Review the first ``reports`` reports of the unseen writers, refit, read the rest."""
    from ml.calibrate import judged_examples, of_held_out_writers
    from ml.documents import read_documents
    from ml.recipe import DEV_DOCUMENTS, TEST_DOCUMENTS
    from service.analysis.transformer import TransformerAnalyzer

    analyzer = TransformerAnalyzer(model_dir)
    members = sorted((d for d in read_documents(TEST_DOCUMENTS)
                      if d.id.startswith(UNSEEN_WRITERS)), key=lambda d: d.id)
    texts, targets, judged = judged_examples(analyzer, members)
    scores = risk_scores(analyzer.logits(texts), analyzer.labels.index("none"),
                         analyzer.temperature)
    threshold = inverse(analyzer.min_score, analyzer.score_map)
    per_doc = []
    at = 0
    for sentences in judged:
        per_doc.append(list(zip(scores[at:at + len(sentences)], targets[at:at + len(sentences)])))
        at += len(sentences)
    taught = [pair for pairs in per_doc[:reports] for pair in pairs if pair[0] >= threshold]
    rest = [pair for pairs in per_doc[reports:] for pair in pairs]
    dev = [d for d in read_documents(DEV_DOCUMENTS) if of_held_out_writers(d)]
    dev_texts, dev_targets, _ = judged_examples(analyzer, dev)
    dev_scores = risk_scores(analyzer.logits(dev_texts), analyzer.labels.index("none"),
                             analyzer.temperature)
    shown, said = [s for s, _ in taught], [r for _, r in taught]
    maps = {"shipped": (analyzer.score_map, ""),
            "deployment": fit(shown, said, minimum=minimum),
            "pooled": fit(shown + dev_scores, said + dev_targets, minimum=minimum),
            "shifted": fit(shown, said, minimum=minimum, shift_of=analyzer.score_map)}
    result = {"model": model_dir.name, "reports": len(members), "reviewed_reports": reports,
              "reviewed_findings": len(taught), "confirmed": sum(r for _, r in taught),
              "tempered_operating_point": round(threshold, 6),
              "held_out_writers_sentences": len(dev_scores), "minimum": minimum, "maps": {}}
    for name, (score_map, why_not) in maps.items():
        score_map = analyzer.score_map if why_not else score_map  # too few: kept as it is
        table = bins([s for s, _ in rest], [r for _, r in rest], score_map, threshold)
        judged_bins = [b for b in table if b["findings"] >= min_findings]
        result["maps"][name] = {
            "map": None if score_map is None else list(score_map), "why_not": why_not or None,
            "bins": table,
            "bins_of_10_within_0_1": f"{sum(abs(b['mean_score'] - b['precision']) <= 0.1 for b in table if b['findings'] >= 10)}"
                                     f" of {sum(b['findings'] >= 10 for b in table)}",
            "bins_within_0_1": f"{sum(abs(b['mean_score'] - b['precision']) <= 0.1 for b in judged_bins)}"
                               f" of {len(judged_bins)}",
            "worst_gap": max((round(abs(b["mean_score"] - b["precision"]), 4)
                              for b in judged_bins), default=None)}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.deployment_map",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a calibrated model folder")
    parser.add_argument("--reports", type=int, default=20, help="reports a person reviews")
    parser.add_argument("--minimum", type=int, default=0,
                        help="reviewed findings below which the map is kept (0: always refit)")
    parser.add_argument("--out", type=Path, default=None, help="keep the JSON here too")
    args = parser.parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr):
        from service.analysis.transformer import resolve_model_dir

        result = simulate(resolve_model_dir(args.model), args.reports, minimum=args.minimum)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
