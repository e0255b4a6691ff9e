"""The classifier in ONNX Runtime: fp32, or int8 where int8 is harmless (the CPU's fast path).

Called like the torch model (``model(**batch).logits``, with arrays for tensors), so
TransformerAnalyzer classifies with either; on the CPU it gives torch's labels faster, and the
service runs without torch. ``OnnxModel.load`` opens a session on the ``model.onnx`` that
``python -m ml.train`` writes; ``OnnxModel.build`` exports a torch classifier first (for a
folder without one). int8 keeps the first ``FP32_LAYERS`` encoder layers and the embeddings
in fp32, where its error starts; a folder may hold its own int8 graph (``save_int8``: the
reader's, with what its check needed kept in fp32: whole layers, or only some layers'
feed-forward outputs), which is then loaded as it is. The
session's threads sleep when idle and its memory arena stays on. Why, with the measurements: docs/throughput.md#onnx-runtimes-settings and the int8
table there; on an x86 CPU without AVX512-VNNI, check int8's agreement (tests/test_fast_paths.py
does it on the test model).

onnxruntime and onnx are imported here only; torch only to export a graph (``export``).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import warnings
from collections.abc import Collection
from pathlib import Path
from types import SimpleNamespace

import service.analysis.openmp  # noqa: F401  # isort: skip  (before torch loads OpenMP)
import numpy as np  # isort: skip

from service.analysis.model_folder import INT8_ONNX, ONNX
from service.analysis.openmp import intra_op_threads

log = logging.getLogger("riskscan.analysis")

#: Encoder layers (from the input side) whose Linear layers stay fp32.
FP32_LAYERS = 3
#: The int8 graph's metadata: its fp32 layers and its weight products of each precision.
_META = ("riskscan.fp32_layers", "riskscan.int8_matmuls", "riskscan.fp32_matmuls")
#: ... and the layers whose feed-forward output alone it keeps in fp32 ("4,5,6,7").
_META_OUTPUTS = "riskscan.fp32_outputs"
OPSET = 17


class OnnxModel:
    """Called like a transformers classifier: ``model(**batch).logits``, int64 arrays in, a
    float32 array out. ``input_names``: what the graph takes (the tokenizer's outputs)."""

    runtime = "onnx"

    def __init__(self, session, input_names: list[str], config, *, quantize: str = "none",
                 int8_matmuls: int = 0, fp32_matmuls: int = 0):
        self.session = session
        self.input_names = input_names
        self.config = config
        self.quantize = quantize
        self.int8_matmuls = int8_matmuls  # weight products in int8 / kept fp32 (the tests)
        self.fp32_matmuls = fp32_matmuls
        self.device = "cpu"
        self.training = False

    @classmethod
    def load(cls, path: str | Path, config, *, quantize: str = "none",
             threads: int | None = None, fp32_layers: int = FP32_LAYERS) -> OnnxModel:
        """A session on the fp32 graph in ``path``, quantized first if ``quantize="int8"``
        (the folder's own int8 graph instead, where it has one); ``config`` gives the labels
        (``id2label``, ``num_labels``)."""
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or intra_op_threads()
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only

        def session_of(graph):
            return onnxruntime.InferenceSession(graph, options,
                                                providers=["CPUExecutionProvider"])

        if quantize == "none":
            session = session_of(str(path))
            return cls(session, _inputs(session), config)
        if quantize != "int8":
            raise ValueError(f"quantize: expected none or int8, got {quantize!r}")
        saved = Path(path).with_name(INT8_ONNX)
        if saved.is_file():
            session = session_of(str(saved))
            meta = session.get_modelmeta().custom_metadata_map
            int8, fp32 = (int(meta.get(key, 0)) for key in _META[1:])
        else:
            with tempfile.TemporaryDirectory(prefix="riskscan-onnx-") as tmp:
                graph, int8, fp32 = _quantized(Path(path), Path(tmp) / INT8_ONNX, fp32_layers)
                session = session_of(graph)
        return cls(session, _inputs(session), config, quantize="int8", int8_matmuls=int8,
                   fp32_matmuls=fp32)

    @classmethod
    def build(cls, model, **options) -> OnnxModel:
        """Export ``model`` (a torch classifier with its ``input_names``) and load it;
        ``options`` as for ``load``."""
        with tempfile.TemporaryDirectory(prefix="riskscan-onnx-") as tmp:
            path = Path(tmp) / ONNX
            export(model, model.input_names, path)
            return cls.load(path, model.config, **options)

    def eval(self) -> OnnxModel:
        return self

    def to(self, device) -> OnnxModel:
        if str(device).partition(":")[0] != "cpu":
            raise ValueError("the ONNX Runtime model runs on the CPU only")
        return self

    def __call__(self, **inputs) -> SimpleNamespace:
        feeds = {name: np.ascontiguousarray(inputs[name], dtype=np.int64)
                 for name in self.input_names}
        (logits,) = self.session.run(["logits"], feeds)
        return SimpleNamespace(logits=logits)


def _inputs(session) -> list[str]:
    """The graph's inputs, in its order: what the tokenizer must give."""
    return [item.name for item in session.get_inputs()]


def save_int8(model_dir: str | Path, fp32_layers: int = FP32_LAYERS,
              fp32_outputs: Collection[int] = ()) -> Path:
    """Write the int8 graph of the folder's fp32 graph beside it (INT8_ONNX), with its first
    ``fp32_layers`` encoder layers and the feed-forward outputs of the layers ``fp32_outputs``
    in fp32; ``OnnxModel.load`` then uses it for int8."""
    import onnx

    model_dir = Path(model_dir)
    target = model_dir / INT8_ONNX
    with tempfile.TemporaryDirectory(prefix=".int8-", dir=model_dir) as tmp:
        graph, int8, fp32 = _quantized(model_dir / ONNX, Path(tmp) / INT8_ONNX,
                                       fp32_layers, fp32_outputs)
        model = onnx.load_from_string(graph)
        props = dict(zip(_META, map(str, (fp32_layers, int8, fp32))))
        props[_META_OUTPUTS] = ",".join(map(str, sorted(fp32_outputs)))
        onnx.helper.set_model_props(model, props)
        onnx.save(model, Path(tmp) / INT8_ONNX)
        (Path(tmp) / INT8_ONNX).chmod(0o644)
        os.replace(Path(tmp) / INT8_ONNX, target)
    return target


def _quantized(exported: Path, quantized: Path, fp32_layers: int,
               fp32_outputs: Collection[int] = ()) -> tuple[bytes, int, int]:
    """(the int8 graph, its weight products in int8, those kept in fp32) of the fp32 graph
    ``exported``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    kept = fp32_nodes(_graph(exported), fp32_layers, fp32_outputs)
    if (fp32_layers or fp32_outputs) and not kept:
        log.warning("onnx int8: no encoder layer found by name in the exported graph; "
                    "every Linear layer is int8, and the labels may differ from fp32's "
                    "more often than the 1%% measured on the BERT-type models")
    root = logging.getLogger()
    root.addFilter(_no_preprocessing_advice)
    try:
        # reduce_range: 7-bit weights. Without VNNI (AVX2 only), ONNX Runtime's u8 x s8
        # kernel sums pairs of products in 16 bits, which full-range per-channel weights
        # overflow: all-mpnet-base-v2's reader then answered `none` to everything (0.51 of
        # fp32's labels). A graph is written once and served on whatever CPU runs it.
        quantize_dynamic(str(exported), str(quantized), weight_type=QuantType.QInt8,
                         per_channel=True, reduce_range=True,
                         op_types_to_quantize=["MatMul", "Gemm"], nodes_to_exclude=kept)
    finally:
        root.removeFilter(_no_preprocessing_advice)
    graph = quantized.read_bytes()
    int8 = sum(node.op_type == "MatMulInteger" for node in _graph(graph).graph.node)
    return graph, int8, len(kept)


def _graph(source: Path | bytes):
    import onnx

    if isinstance(source, bytes):
        return onnx.load_from_string(source)
    return onnx.load(str(source))


def _no_preprocessing_advice(record: logging.LogRecord) -> bool:
    """Drop the quantizer's advice to run its shape-inference pre-processing (for models
    whose shapes it cannot infer; it made no difference here) from the root logger."""
    return not str(record.msg).startswith("Please consider to run pre-processing")


_LAYER = re.compile(r"layer\.(\d+)/")
#: A layer's feed-forward output (BERT, MPNet); its attention output is ``attention/output``.
_FEED_FORWARD_OUTPUT = re.compile(r"layer\.(\d+)/output/dense/")


def fp32_nodes(graph_model, fp32_layers: int, fp32_outputs: Collection[int] = ()) -> list[str]:
    """Names of the weight products (MatMul/Gemm by a constant) of encoder layers
    ``0 … fp32_layers - 1``, and of the feed-forward output of each layer in ``fp32_outputs``,
    as torch.onnx names them (``/bert/encoder/layer.0/…``, ``…/layer.7/output/dense/MatMul``).
    The feed-forward output is where int8 costs most labels: its input, the GELU's output,
    has the widest range for one activation scale (docs/experiments/2026-11-27-the-readers-
    int8-product-by-product.md)."""
    weights = {initializer.name for initializer in graph_model.graph.initializer}
    names = []
    for node in graph_model.graph.node:
        if node.op_type not in ("MatMul", "Gemm") or len(node.input) < 2 \
                or node.input[1] not in weights:
            continue
        layer = _LAYER.search(node.name)
        output = _FEED_FORWARD_OUTPUT.search(node.name)
        if (layer and int(layer.group(1)) < fp32_layers) or (
                output and int(output.group(1)) in fp32_outputs):
            names.append(node.name)
    return names


def export(model, input_names: list[str], path: str | Path) -> None:
    """Write ``model`` (a transformers classifier, fp32) to ``path`` as an ONNX graph with
    ``input_names`` as its inputs (batch and token axes dynamic) and ``logits`` as output.
    ``model`` must be on the CPU in fp32 (it is put in eval mode)."""
    import torch

    class Logits(torch.nn.Module):
        """The classifier with positional inputs, in the tokenizer's order, returning
        logits."""

        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            return self.model(**dict(zip(input_names, inputs))).logits

    model.eval()
    example = {"input_ids": torch.tensor([[1, 2, 3, 4], [1, 2, 3, 0]]),
               "token_type_ids": torch.zeros(2, 4, dtype=torch.long),
               "attention_mask": torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])}
    axes = {name: {0: "batch", 1: "tokens"} for name in input_names}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        # torch 2.13's default exporter needs onnxscript; the TorchScript one (dynamo=False)
        # does not, and warns that it is deprecated, as do the tracer's checks.
        warnings.simplefilter("ignore")
        # The wrapper must be in eval mode too: export restores the mode the module it is given
        # had, recursively, and a fresh Module is in training mode (dropout on).
        torch.onnx.export(Logits().eval(),
                          tuple(example[name] for name in input_names), str(path),
                          input_names=input_names, output_names=["logits"],
                          dynamic_axes={**axes, "logits": {0: "batch"}}, opset_version=OPSET,
                          dynamo=False)
