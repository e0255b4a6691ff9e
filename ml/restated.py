"""The register's matching on real restatements, and the levers that could move it.

    python -m ml.restated                 # ml/data/register/restated.jsonl, the register's encoder
    python -m ml.restated --runtime onnx  # the same in fp32

``ml/data/register/restated.jsonl`` holds pairs of real risk sentences from consecutive
reports of one project (ml/data/README.md): the same risk told again, or another risk of the
project in the same words' neighbourhood. ``ml.match`` decides each pair as the register does
today; this module asks what would decide them better, each rule fitted or chosen on ``dev``
and measured on ``test``:

- ``shipped``: same category and cosine at ``REGISTER_MATCH_THRESHOLD`` (the service's rule);
- ``entry-mean`` / ``entry-max``: the later sentence against the entry the earlier one stands
  in, made of every earlier wording of its thread (the pairs labelled ``same`` joined up):
  the entry's mean direction (what the service stores) or its closest wording;
- ``no-gate``: the cosine alone, the category ignored;
- ``dev-threshold``: the cosine threshold chosen on ``dev`` (gate kept, or not);
- ``logistic``: a logistic matcher on (entry cosine, category equal, word overlap).

An operating point is chosen on ``dev`` as the lowest threshold whose precision reaches
``--precision`` (0.95, the issue's goal), else the best F1. ``test_ceiling`` says, for each
score, the most recall any threshold reaches on ``test`` at that precision: an upper bound no
rule on that score can beat, not a result.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from ml.jsonl import records
from service.analysis.embedding import SentenceEncoder
from service.config import Settings

RESTATED = Path(__file__).resolve().parent / "data" / "register" / "restated.jsonl"
STOP_WORDS = ("the a an and or of to in on for with is are was were be been it this that as at by "
              "from we our they their not but have has had will would can could there which "
              "what when who how if so than then its into also more some any all no do does did "
              "i you them these those very just about out up over only other such may might "
              "should need needs still")
STOP = frozenset(STOP_WORDS.split(" "))


def shipped_threshold() -> float:
    return next(default for name, default, _ in Settings.documentation()
                if name == "REGISTER_MATCH_THRESHOLD")


def words(text: str) -> set[str]:
    return {word for word in re.findall(r"[a-z][a-z0-9'+-]{2,}", text.lower())
            if word not in STOP}


def overlap(a: str, b: str) -> float:
    """Jaccard overlap of the two sentences' content words."""
    first, second = words(a), words(b)
    return len(first & second) / len(first | second) if first | second else 0.0


def threads(pairs: list[dict]) -> dict[tuple, set[tuple]]:
    """Each statement's thread: the statements joined to it by ``same`` pairs (transitively)."""
    parent: dict[tuple, tuple] = {}

    def find(node: tuple) -> tuple:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for pair in pairs:
        a, b = statement(pair, "a"), statement(pair, "b")
        find(a), find(b)
        if pair["relation"] == "same":
            parent[find(a)] = find(b)
    members: dict[tuple, set[tuple]] = defaultdict(set)
    for node in parent:
        members[find(node)].add(node)
    return {node: members[find(node)] for node in parent}


def statement(pair: dict, side: str) -> tuple:
    return (pair[side], pair[f"source_{side}"], pair[f"date_{side}"])


def features(pairs: list[dict], encoder: SentenceEncoder) -> dict[str, np.ndarray]:
    """Per pair: ``cosine`` (the two sentences), ``entry_mean`` and ``entry_max`` (the later
    sentence against the earlier one's entry: every wording of the earlier sentence's thread
    stated before the later one), ``category`` (1 when the categories agree), ``overlap``."""
    texts = sorted({pair[side] for pair in pairs for side in ("a", "b")})
    index = {text: row for row, text in enumerate(texts)}
    vectors = encoder.embed(texts)
    members = threads(pairs)
    cosine, mean, best = [], [], []
    for pair in pairs:
        a, b = vectors[index[pair["a"]]], vectors[index[pair["b"]]]
        cosine.append(float(a @ b))
        entry = [vectors[index[text]] for text, _, date in members[statement(pair, "a")]
                 if date < pair["date_b"] and text != pair["b"]] or [a]
        direction = np.sum(entry, axis=0)
        mean.append(float(direction @ b / max(np.linalg.norm(direction), 1e-12)))
        best.append(max(float(vector @ b) for vector in entry))
    return {"cosine": np.array(cosine), "entry_mean": np.array(mean),
            "entry_max": np.array(best),
            "category": np.array([float(p["category_a"] == p["category_b"]) for p in pairs]),
            "overlap": np.array([overlap(p["a"], p["b"]) for p in pairs])}


def measure(same: np.ndarray, matched: np.ndarray) -> dict:
    hits = int((matched & same).sum())
    precision = hits / int(matched.sum()) if matched.any() else 1.0
    recall = hits / int(same.sum()) if same.any() else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3),
            "matched": int(matched.sum()), "false_joins": int((matched & ~same).sum())}


def operating_point(score: np.ndarray, same: np.ndarray, gate: np.ndarray,
                    precision: float) -> float:
    """The lowest threshold on ``score`` (gated) whose precision reaches ``precision``; when
    none does, the one with the best F1 (the higher on a tie)."""
    candidates = sorted(set(np.round(score, 4)))
    reaching = [t for t in candidates
                if measure(same, gate & (score >= t))["precision"] >= precision
                and (gate & (score >= t)).any()]
    if reaching:
        return float(min(reaching))
    return float(max(candidates, key=lambda t: (measure(same, gate & (score >= t))["f1"], t)))


def ceiling(score: np.ndarray, same: np.ndarray, gate: np.ndarray, precision: float) -> dict:
    """The most recall any threshold on ``score`` reaches at ``precision`` (an upper bound)."""
    best = {"threshold": None, "precision": None, "recall": 0.0}
    for threshold in sorted(set(np.round(score, 4))):
        result = measure(same, gate & (score >= threshold))
        if result["precision"] >= precision and result["recall"] > best["recall"]:
            best = {"threshold": round(float(threshold), 3), "precision": result["precision"],
                    "recall": result["recall"]}
    return best


def logistic(dev: dict[str, np.ndarray], dev_same: np.ndarray):
    """A logistic matcher on (entry cosine, category equal, word overlap), fitted on dev."""
    from sklearn.linear_model import LogisticRegression

    columns = ("entry_max", "category", "overlap")
    model = LogisticRegression(C=1.0, max_iter=1000)
    model.fit(np.column_stack([dev[name] for name in columns]), dev_same)
    return lambda values: model.predict_proba(
        np.column_stack([values[name] for name in columns]))[:, 1], dict(
        zip(columns, [round(float(w), 3) for w in model.coef_[0]], strict=True),
        intercept=round(float(model.intercept_[0]), 3))


def by_genre(pairs: list[dict], same: np.ndarray, matched: np.ndarray) -> dict:
    genres = np.array([pair["genre"] for pair in pairs])
    return {genre: {key: value for key, value in measure(same[genres == genre],
                                                          matched[genres == genre]).items()
                    if key in ("precision", "recall")} | {"same": int(same[genres == genre].sum())}
            for genre in sorted(set(genres))}


def evaluate(pairs: list[dict], encoder: SentenceEncoder, precision: float = 0.95) -> dict:
    split = {name: [pair for pair in pairs if pair["split"] == name] for name in ("dev", "test")}
    values = {name: features(rows, encoder) for name, rows in split.items()}
    same = {name: np.array([pair["relation"] == "same" for pair in rows])
            for name, rows in split.items()}
    shipped = shipped_threshold()
    fitted, weights = logistic(values["dev"], same["dev"])
    for name in split:
        values[name]["logistic"] = fitted(values[name])
    every = {name: np.ones(len(rows), dtype=bool) for name, rows in split.items()}
    rules = {  # name: (score, gated by category?, threshold or None to choose it on dev)
        "shipped": ("cosine", True, shipped),
        "entry-mean": ("entry_mean", True, shipped),
        "entry-max": ("entry_max", True, shipped),
        "no-gate": ("cosine", False, shipped),
        "dev-threshold": ("cosine", True, None),
        "dev-threshold, no gate": ("cosine", False, None),
        "entry-mean, dev-threshold": ("entry_mean", True, None),
        "entry-max, dev-threshold": ("entry_max", True, None),
        "entry-max, dev-threshold, no gate": ("entry_max", False, None),
        "logistic": ("logistic", False, None),
    }
    report = {"encoder": encoder.name, "runtime": encoder.runtime, "shipped_threshold": shipped,
              "pairs": {name: len(rows) for name, rows in split.items()},
              "same": {name: int(same[name].sum()) for name in split},
              "logistic_weights": weights, "rules": {}}
    for rule, (score, gated, threshold) in rules.items():
        gate = {name: values[name]["category"] > 0 if gated else every[name] for name in split}
        if threshold is None:
            threshold = operating_point(values["dev"][score], same["dev"], gate["dev"], precision)
        result = {"threshold": round(threshold, 3)}
        for name in split:
            matched = gate[name] & (values[name][score] >= threshold)
            result[name] = measure(same[name], matched)
        result["test_ceiling"] = ceiling(values["test"][score], same["test"], gate["test"],
                                         precision)
        result["test_by_genre"] = by_genre(split["test"], same["test"],
                                           gate["test"] & (values["test"][score] >= threshold))
        report["rules"][rule] = result
    return report


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=Path, default=RESTATED)
    parser.add_argument("--encoder", type=Path, default=None)
    parser.add_argument("--runtime", default=None, choices=("onnx-int8", "onnx", "torch"))
    parser.add_argument("--precision", type=float, default=0.95,
                        help="the precision an operating point must reach on dev")
    args = parser.parse_args(argv)
    pairs = [pair for _, pair in records(args.pairs, ValueError)]
    report = evaluate(pairs, SentenceEncoder(args.encoder, runtime=args.runtime), args.precision)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
