"""The in-process classifier: a fine-tuned transformer labels each sentence of a document.

``TransformerAnalyzer(model_dir)`` loads a model written by ``python -m ml.train`` (one
folder of ``models_cache/``) once, from local files only, on CUDA when there is one (in
fp16) and on the CPU otherwise. ``analyze(text)`` segments the text into sentences, classifies
them all in length-sorted batches and returns a Finding for each sentence not labelled
``none``.

torch and transformers are imported here and only here: the rest of the service imports
without them, and this module is imported only when a model analyzer is built.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

# Never reach for a model hub: every model is a local folder.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from service.analysis.base import AnalysisError, Finding
from service.analysis.labels import LABELS, NONE
from service.analysis.segment import split_sentences

CURRENT_FILE = "current"
DEFAULT_MAX_LENGTH = 128


class ModelNotFoundError(AnalysisError):
    """There is no trained model where the configuration points."""

    title = "Model unavailable"


def resolve_model_dir(path: str | os.PathLike) -> Path:
    """The model folder ``path`` stands for.

    ``path`` is either a model folder itself (it has a ``config.json``) or a models root
    such as ``models_cache/`` whose ``current`` file names the version folder to use.
    """
    path = Path(path)
    if (path / "config.json").is_file():
        return path
    current = path / CURRENT_FILE
    if not current.is_file():
        raise ModelNotFoundError(
            f"no trained model in {path}: {current} does not exist. Train one with "
            "`python -m ml.train` (it writes models_cache/<version>/ and models_cache/current).")
    version = current.read_text(encoding="utf-8").strip()
    if not version or Path(version).name != version or version in (".", ".."):
        raise ModelNotFoundError(f"{current} should hold a version folder name, not {version!r}")
    model_dir = path / version
    if not (model_dir / "config.json").is_file():
        raise ModelNotFoundError(
            f"{current} names {version!r}, but {model_dir} holds no model (no config.json)")
    return model_dir


def select_device() -> torch.device:
    """CUDA when torch sees a GPU, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class TransformerAnalyzer:
    """Finds risks with a fine-tuned sequence classifier (see the module docstring).

    ``max_length`` (tokens) defaults to the one the model was trained with; a longer
    sentence is classified on its head but reported whole.
    """

    source = "model"

    def __init__(self, model_dir: str | os.PathLike, device: str | torch.device | None = None,
                 batch_size: int = 32, max_length: int | None = None):
        model_dir = resolve_model_dir(model_dir)
        try:
            tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
            model = AutoModelForSequenceClassification.from_pretrained(
                model_dir, local_files_only=True)
        except (OSError, ValueError) as error:
            raise ModelNotFoundError(f"cannot load the model in {model_dir}: {error}") from error
        device = torch.device(device) if device is not None else select_device()
        if device.type == "cuda":
            model = model.half()  # half the memory and time; the labels do not change
        self._attach(model.to(device), tokenizer, version=model_dir.resolve().name,
                     device=device, batch_size=batch_size,
                     max_length=max_length or _trained_max_length(model_dir))
        self.model_dir = model_dir

    @classmethod
    def from_model(cls, model, tokenizer, *, version: str, max_length: int,
                   batch_size: int = 32) -> TransformerAnalyzer:
        """Wrap a model already in memory, on the device and in the precision it has.

        The trainer validates each epoch through this, so that training measures the
        classification code the service runs.
        """
        analyzer = cls.__new__(cls)
        analyzer._attach(model, tokenizer, version=version, device=model.device,
                         batch_size=batch_size, max_length=max_length)
        analyzer.model_dir = None
        return analyzer

    def _attach(self, model, tokenizer, *, version: str, device: torch.device,
                batch_size: int, max_length: int) -> None:
        self.version = version
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self.tokenizer = tokenizer
        self.labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        unknown = sorted(set(self.labels) - set(LABELS))
        if unknown:
            raise ModelNotFoundError(
                f"model {version} predicts labels outside the taxonomy: {unknown}")
        self.model = model.eval()

    def classify(self, sentences: Sequence[str], *, progress: bool = False
                 ) -> list[tuple[str, float]]:
        """(label, probability of that label) for each sentence, in input order.

        Sentences are batched by token length (longest first) so that little padding is
        computed; the order of the answers does not depend on the batching.
        """
        if not sentences:
            return []
        encoded = self.tokenizer(list(sentences), truncation=True, max_length=self.max_length)
        input_ids = encoded["input_ids"]
        order = sorted(range(len(input_ids)), key=lambda i: len(input_ids[i]), reverse=True)
        results: list[tuple[str, float] | None] = [None] * len(input_ids)
        batches = range(0, len(order), self.batch_size)
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc="classify", unit="batch", file=sys.stderr)
        try:
            with torch.inference_mode():
                for start in batches:
                    indices = order[start:start + self.batch_size]
                    batch = self.tokenizer.pad(
                        {key: [encoded[key][i] for i in indices] for key in encoded},
                        return_tensors="pt",
                    ).to(self.device)
                    logits = self.model(**batch).logits.float()
                    probabilities = torch.softmax(logits, dim=-1)
                    scores, label_ids = probabilities.max(dim=-1)
                    for index, label_id, score in zip(indices, label_ids.tolist(),
                                                      scores.tolist()):
                        results[index] = (self.labels[label_id], score)
        except RuntimeError as error:  # e.g. CUDA out of memory
            raise AnalysisError(f"the classifier failed: {type(error).__name__}") from error
        return results  # type: ignore[return-value]

    def analyze(self, text: str) -> list[Finding]:
        """A Finding for each sentence of ``text`` that states a risk."""
        sentences = split_sentences(text)
        labelled = self.classify([sentence.text for sentence in sentences])
        findings = []
        for index, (sentence, (label, score)) in enumerate(zip(sentences, labelled)):
            if label == NONE:
                continue
            context_start = sentences[max(index - 1, 0)].start
            context_end = sentences[min(index + 1, len(sentences) - 1)].end
            findings.append(Finding(
                risk=sentence.text, category=label, context=text[context_start:context_end],
                score=round(score, 4), start=sentence.start, end=sentence.end,
            ))
        return findings


def _trained_max_length(model_dir: Path) -> int:
    """The max_length recorded in training_config.json, or DEFAULT_MAX_LENGTH."""
    try:
        config = json.loads((model_dir / "training_config.json").read_text(encoding="utf-8"))
        return int(config["max_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_MAX_LENGTH

