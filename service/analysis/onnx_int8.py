"""MODEL_QUANTIZE=onnx-int8: the classifier in ONNX Runtime, int8 where int8 is harmless.

``OnnxInt8Model.build(model, input_names)`` exports a loaded (fp32, CPU) transformers
classifier to ONNX, quantizes it with ONNX Runtime's dynamic quantization and opens an
inference session on it; the result is called like the torch model
(``model(**batch).logits``), so TransformerAnalyzer classifies with it unchanged.

What is quantized, and why (measured on the real model and the held-out sentences of
ml/data, README "Throughput"): the weights of the Linear layers (MatMul/Gemm) per output
channel, their inputs per batch at run time in 8 bits (u8, full range), except the Linear
layers of the first ``FP32_LAYERS`` encoder layers, which stay fp32, as do the word
embeddings. With every Linear in int8, 2–3% of the labels differ from fp32's (97.3% agreement
on the validation sentences). The error starts early and grows through the later layers:
leaving out one matrix product at a time, those of layers 0 and 1 mattered most, those of
layer 5 not at all; with the first three of the six layers in fp32, 99.1–99.9% of labels
agree, on three held-out sets and two trained models. Quantizing the embeddings too cost
agreement (97.3% against 98.0% on the test sentences) for no speed.

torch's own dynamic int8 (MODEL_QUANTIZE=int8) quantizes activations in 7 bits (fbgemm's
reduce_range) and agreed with fp32 on 94.6% of the test sentences only. ONNX Runtime's 8
bits were measured on a CPU with AVX512-VNNI; on an x86 CPU without VNNI, its u8×s8 kernel
can saturate (its documentation advises reduce_range there), so check the agreement on such
a host (tests/test_fast_paths.py does it on the test model).

The session runs with as many threads as torch (``torch.get_num_threads()``), and its
threads sleep when idle instead of spinning (``session.intra_op.allow_spinning=0``): on the
shared cores of the reference machine spinning halved ONNX Runtime's throughput, as OpenMP's
spinning slowed torch (service/analysis/__init__.py).

The export and the quantization run at load time, in a temporary folder (about 2.5 s on 2
shared cores); nothing is written next to the model. onnxruntime and onnx are imported here
only.
"""

from __future__ import annotations

import logging
import re
import tempfile
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

log = logging.getLogger("riskscan.analysis")

#: Encoder layers (from the input side) whose Linear layers stay fp32.
FP32_LAYERS = 3
OPSET = 17


class OnnxInt8Model:
    """Called like a transformers classifier: ``model(**batch).logits`` (a torch tensor)."""

    quantize = "onnx-int8"

    def __init__(self, session, input_names: list[str], config, *, int8_matmuls: int = 0,
                 fp32_matmuls: int = 0):
        self.session = session
        self.input_names = input_names
        self.config = config
        self.int8_matmuls = int8_matmuls  # weight products in int8 / kept fp32 (the tests)
        self.fp32_matmuls = fp32_matmuls
        self.device = torch.device("cpu")
        self.training = False

    @classmethod
    def build(cls, model, input_names: list[str], *, threads: int | None = None,
              fp32_layers: int = FP32_LAYERS) -> OnnxInt8Model:
        """Export ``model`` (fp32, CPU), quantize it, and open a session on it."""
        import onnx
        import onnxruntime
        from onnxruntime.quantization import QuantType, quantize_dynamic

        model = model.float().cpu().eval()
        with tempfile.TemporaryDirectory(prefix="riskscan-onnx-") as tmp:
            exported, quantized = Path(tmp) / "model.onnx", Path(tmp) / "model.int8.onnx"
            _export(model, input_names, exported)
            kept = fp32_nodes(onnx.load(str(exported)), fp32_layers)
            if fp32_layers and not kept:
                log.warning("onnx-int8: no encoder layer found by name in the exported graph; "
                            "every Linear layer is int8, and the labels may differ from fp32's "
                            "more often than the 1%% measured on the BERT-type models")
            root = logging.getLogger()
            root.addFilter(_no_preprocessing_advice)
            try:
                quantize_dynamic(str(exported), str(quantized), weight_type=QuantType.QInt8,
                                 per_channel=True, reduce_range=False,
                                 op_types_to_quantize=["MatMul", "Gemm"],
                                 nodes_to_exclude=kept)
            finally:
                root.removeFilter(_no_preprocessing_advice)
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads or torch.get_num_threads()
            options.inter_op_num_threads = 1
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.log_severity_level = 3  # errors only
            graph = quantized.read_bytes()
            nodes = onnx.load_from_string(graph).graph.node
            int8 = sum(node.op_type == "MatMulInteger" for node in nodes)
            session = onnxruntime.InferenceSession(graph, options,
                                                   providers=["CPUExecutionProvider"])
        return cls(session, input_names, model.config, int8_matmuls=int8,
                   fp32_matmuls=len(kept))

    def eval(self) -> OnnxInt8Model:
        return self

    def to(self, device) -> OnnxInt8Model:
        if torch.device(device).type != "cpu":
            raise ValueError("the ONNX Runtime model runs on the CPU only")
        return self

    def __call__(self, **inputs) -> SimpleNamespace:
        feeds = {name: np.ascontiguousarray(inputs[name].numpy(), dtype=np.int64)
                 for name in self.input_names}
        (logits,) = self.session.run(["logits"], feeds)
        return SimpleNamespace(logits=torch.from_numpy(logits))


def _no_preprocessing_advice(record: logging.LogRecord) -> bool:
    """Drop the quantizer's advice to run its shape-inference pre-processing (for models
    whose shapes it cannot infer; it made no difference here) from the root logger."""
    return not str(record.msg).startswith("Please consider to run pre-processing")


def fp32_nodes(graph_model, fp32_layers: int) -> list[str]:
    """Names of the weight products (MatMul/Gemm by a constant) of encoder layers
    ``0 … fp32_layers - 1``, as torch.onnx names them (``/bert/encoder/layer.0/…``)."""
    pattern = re.compile(r"layer\.(\d+)/")
    weights = {initializer.name for initializer in graph_model.graph.initializer}
    names = []
    for node in graph_model.graph.node:
        match = pattern.search(node.name)
        if (node.op_type in ("MatMul", "Gemm") and len(node.input) > 1
                and node.input[1] in weights and match and int(match.group(1)) < fp32_layers):
            names.append(node.name)
    return names


class _Logits(torch.nn.Module):
    """The classifier with positional inputs, in the tokenizer's order, returning logits."""

    def __init__(self, model, input_names: list[str]):
        super().__init__()
        self.model = model
        self.input_names = input_names

    def forward(self, *inputs):
        return self.model(**dict(zip(self.input_names, inputs))).logits


def _export(model, input_names: list[str], path: Path) -> None:
    example = {"input_ids": torch.tensor([[1, 2, 3, 4], [1, 2, 3, 0]]),
               "token_type_ids": torch.zeros(2, 4, dtype=torch.long),
               "attention_mask": torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])}
    axes = {name: {0: "batch", 1: "tokens"} for name in input_names}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        # torch 2.13's default exporter needs onnxscript; the TorchScript one (dynamo=False)
        # does not, and warns that it is deprecated, as do the tracer's checks.
        warnings.simplefilter("ignore")
        torch.onnx.export(_Logits(model, input_names),
                          tuple(example[name] for name in input_names), str(path),
                          input_names=input_names, output_names=["logits"],
                          dynamic_axes={**axes, "logits": {0: "batch"}}, opset_version=OPSET,
                          dynamo=False)
