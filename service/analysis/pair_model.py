"""The register's pair model in ONNX Runtime: whether a new finding states the same risk as
an entry's wording, read together (a cross-encoder, ``ml/pair_training.py`` trains it).

A folder holds the int8 graph, the tokenizer and its config (model_folder.py names them: the
threshold chosen on development pairs for precision first, the max length, the figures).
Only ONNX Runtime and the ``tokenizers`` library are needed: no torch at serving time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from service.analysis.model_folder import ONNX, PAIR_JSON, TOKENIZER_JSON
from service.analysis.openmp import intra_op_threads

CONFIG = PAIR_JSON
BATCH = 32


class PairModel:
    """Probabilities that pairs of sentences state the same risk; ``joins`` at the
    threshold."""

    def __init__(self, folder: Path, *, threshold: float | None = None):
        import onnxruntime
        from tokenizers import Tokenizer

        config = json.loads((folder / CONFIG).read_text())
        self.folder = folder
        self.threshold = config["threshold"] if threshold is None else threshold
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_JSON))
        self.tokenizer.enable_truncation(config["max_length"], strategy="longest_first")
        self.tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = intra_op_threads()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            str(folder / ONNX), options, providers=["CPUExecutionProvider"])
        self.inputs = {node.name for node in self.session.get_inputs()}

    @classmethod
    def of(cls, folder: Path) -> PairModel | None:
        """The folder's pair model, or None where it has none (an older models root: the
        register's cosine rule stays)."""
        return cls(folder) if (folder / CONFIG).is_file() else None

    def probabilities(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        scores = []
        for start in range(0, len(pairs), BATCH):
            encoded = self.tokenizer.encode_batch(list(pairs[start:start + BATCH]))
            feed = {"input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask for e in encoded],
                                               dtype=np.int64),
                    "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64)}
            logits = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})
            scores.append(1 / (1 + np.exp(-logits[0].reshape(-1))))
        return np.concatenate(scores) if scores else np.zeros(0)

    def joins(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        return self.probabilities(pairs) >= self.threshold
