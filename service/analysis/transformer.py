"""The in-process classifier: a fine-tuned transformer labels each sentence of a document.

``TransformerAnalyzer(model_dir)`` loads a model written by ``python -m ml.train`` (one
folder of ``models_cache/``) once, from local files only, on CUDA when there is one (in
fp16) and on the CPU otherwise. On the CPU it runs in ONNX Runtime by default
(``runtime="onnx"``: the same labels, faster; service/analysis/onnx_model.py), from the
``model.onnx`` that ml.train writes next to the weights; ``runtime="torch"`` runs the torch
model. ``quantize="int8"`` makes Linear layers int8, trading a little agreement with fp32
for speed (docs/throughput.md compares both runtimes). ``analyze(text)`` segments the text
into sentences, classifies them all in length-sorted batches and returns an Analysis with a
Finding for each sentence not labelled ``none``. How the model reads a sentence (alone, or
with its section heading and the sentence before it) is its folder's ModelSpec
(service/analysis/model_spec.py), which training encoded its batches with.

``classify`` is thread-safe: waitress calls it from several threads, and a fast tokenizer
used by two threads at once raises "Already borrowed". By default one lock covers the whole
call (tokenization and forward passes): on a CPU concurrent forward passes only oversubscribe
the cores; ``serialize="tokenizer"`` locks tokenization only (bench/classify.py measures
both ways).

On the CPU the service needs neither torch nor transformers (docs/throughput.md weighs them): ONNX
Runtime runs the graph and the ``tokenizers`` library the folder's tokenizer.json
(service/analysis/tokenizer.py); torch is imported only where it runs (``runtime="torch"``,
CUDA, a folder without its graph, training). Its OpenMP threads then sleep when idle instead
of spinning (``OMP_WAIT_POLICY=PASSIVE``, set by ``service/analysis/openmp.py`` before torch
loads; see there why).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

# Never reach for a model hub: every model is a local folder.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import service.analysis.openmp  # noqa: F401  # isort: skip  (before torch loads OpenMP)
import numpy as np

from service.analysis.base import Analysis, AnalysisError
from service.analysis.devices import Device, prepare, select_device
from service.analysis.inputs import Sentences, pad_batch, plan_batches
from service.analysis.labels import LABELS, NONE
from service.analysis.model_folder import (
    CALIBRATION_JSON,
    CURRENT,
    ONNX,
    TRAINING_JSON,
    ModelFolder,
    is_version,
    pointed,
)
from service.analysis.model_spec import ModelSpec, UnknownInputMode
from service.analysis.reading import findings_of
from service.analysis.scores import apply_min_score, mapped, softmax, valid_score_map
from service.analysis.tokenizer import INPUT_NAMES, Tokenizer, TokenizerError

RUNTIMES = ("auto", "torch", "onnx")
QUANTIZATIONS = ("none", "int8")
#: What classify's lock covers: the whole call, or tokenization only (see the module docstring).
SERIALIZATIONS = ("call", "tokenizer")
#: A folder without a calibration.json (ml.train writes it) is read uncalibrated, a risk
#: from a score of 0.5.
DEFAULT_TEMPERATURE = 1.0
DEFAULT_MIN_SCORE = 0.5

log = logging.getLogger("riskscan.analysis")


class ModelNotFoundError(AnalysisError):
    """There is no trained model where the configuration points."""

    title = "Model unavailable"


def resolve_model_dir(path: str | os.PathLike, pointer: str = CURRENT) -> Path:
    """The model folder ``path`` stands for.

    ``path`` is either a model folder itself (it has a ``config.json``) or a models root
    such as ``models_cache/`` whose ``pointer`` file (``current``, or ``reader`` for the
    cascade's reader) names the version folder to use.
    """
    path = Path(path)
    if is_version(path):
        return path
    try:
        version = pointed(path, pointer)
    except ValueError as error:
        raise ModelNotFoundError(str(error)) from None
    if version is None:
        raise ModelNotFoundError(
            f"no trained model in {path}: {path / pointer} does not exist. Train one with "
            + ("`make reader`." if pointer != CURRENT else
               "`python -m ml.train` (it writes models_cache/<version>/ and "
               "models_cache/current)."))
    model_dir = path / version
    if not is_version(model_dir):
        raise ModelNotFoundError(
            f"{path / pointer} names {version!r}, but {model_dir} holds no model (no config.json)")
    return model_dir


class TransformerAnalyzer:
    """Finds risks with a fine-tuned sequence classifier (see the module docstring).

    ``max_length`` (tokens) defaults to the one the model was trained with; a longer
    sentence is classified on its head but reported whole. ``serialize`` is what the lock
    covers when threads classify at once: ``"call"`` (the default), or ``"tokenizer"`` so
    that their forward passes overlap; it may be changed between calls.
    """

    source = "model"

    def __init__(self, model_dir: str | os.PathLike, device: str | None = None,
                 batch_size: int = 32, max_length: int | None = None,
                 quantize: str = "none", runtime: str = "auto", serialize: str = "call"):
        if quantize not in QUANTIZATIONS:
            raise ValueError(f"quantize: expected one of {QUANTIZATIONS}, got {quantize!r}")
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime: expected one of {RUNTIMES}, got {runtime!r}")
        if serialize not in SERIALIZATIONS:
            raise ValueError(f"serialize: expected one of {SERIALIZATIONS}, got {serialize!r}")
        model_dir = resolve_model_dir(model_dir)
        spec = model_spec(model_dir)  # before the weights: a retired mode is refused by name
        if max_length:
            spec = dataclasses.replace(spec, max_length=max_length)
        device = Device(device if device is not None else select_device())
        if runtime == "auto":
            runtime = "torch" if device.type == "cuda" else "onnx"
        if device.type == "cuda" and (quantize != "none" or runtime != "torch"):
            raise AnalysisError(f"MODEL_RUNTIME={runtime} with MODEL_QUANTIZE={quantize} is "
                                "for the CPU only; on CUDA the torch model runs in fp16")
        try:
            if runtime == "onnx":
                model = _onnx_model(model_dir, quantize)
            else:
                model = _torch_model(model_dir)
            tokenizer = Tokenizer(model_dir, model.input_names)
        except _damaged_model_errors() as error:
            raise ModelNotFoundError(f"cannot load the model in {model_dir}: {error}") from error
        if device.type == "cuda":
            prepare(device)
            model = model.half()  # half the memory and time; the labels do not change
        elif quantize == "int8" and runtime == "torch":
            model = quantize_int8(model)
        self._attach(model.to(device), tokenizer, version=model_dir.resolve().name,
                     device=device, batch_size=batch_size, spec=spec)
        self.serialize = serialize
        self.model_dir = model_dir
        temperature, min_score, score_map = read_calibration(model_dir)
        self.calibrate(temperature, min_score, score_map=score_map)

    @classmethod
    def from_model(cls, model, tokenizer, *, version: str, spec: ModelSpec,
                   batch_size: int = 32) -> TransformerAnalyzer:
        """Wrap a model already in memory, on the device and in the precision it has.

        The trainer validates each epoch through this, so that training measures the
        classification code the service runs.
        """
        analyzer = cls.__new__(cls)
        analyzer._attach(model, tokenizer, version=version, device=Device(model.device),
                         batch_size=batch_size, spec=spec)
        analyzer.model_dir = None
        return analyzer

    def _attach(self, model, tokenizer, *, version: str, device: Device,
                batch_size: int, spec: ModelSpec) -> None:
        self.version = version
        self.spec = spec
        self.device = device
        self.runtime = getattr(model, "runtime", "torch")
        self.quantize = getattr(model, "quantize", None) or (
            "int8" if _is_quantized(model) else "none")
        self._lock = threading.Lock()  # see the module docstring: classify is serialized
        self.serialize = "call"  # what the lock covers (see the class docstring)
        self.batch_size = batch_size
        self.tokenizer = tokenizer
        self.labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        unknown = sorted(set(self.labels) - set(LABELS))
        if unknown:
            raise ModelNotFoundError(
                f"model {version} predicts labels outside the taxonomy: {unknown}")
        self._none_id = self.labels.index(NONE)
        self.temperature, self.min_score = DEFAULT_TEMPERATURE, DEFAULT_MIN_SCORE
        self.score_map: tuple[float, float, float] | None = None
        self.model = model.eval()

    def calibrate(self, temperature: float, min_score: float, *,
                  score_map: tuple[float, float, float] | None = None) -> None:
        """Use this temperature, operating point and score map (ml.calibrate measures all
        three). ``score_map`` is (slope, intercept, floor): a logistic on the tempered risk
        score's log-odds from the floor up, fitted on writers the training never met, so
        that a score is the chance that the sentence is a risk in *their* documents (see
        ``mapped``); None: the tempered score."""
        if not temperature > 0 or not 0 <= min_score <= 1:
            raise ValueError("temperature must be > 0 and min_score within 0..1")
        if score_map is not None and not valid_score_map(score_map):
            raise ValueError("score_map must be (slope > 0, intercept, 0 <= floor < 1)")
        self.temperature, self.min_score = float(temperature), float(min_score)
        self.score_map = None if score_map is None else tuple(float(v) for v in score_map)

    def classify(self, sentences: Sentences, *, min_score: float | None = None,
                 progress: bool = False) -> list[tuple[str, float]]:
        """(label, score) for each sentence, in input order.

        A sentence's risk score is the calibrated probability that it states a risk
        (1 − P(none) at the model's temperature). At or above ``min_score`` (default: the
        model's operating point) it is labelled with its most likely risk category and
        scored with the risk score; below, it is ``none``, scored 1 − the risk score.
        Sentences are batched by token length (longest first) so that little padding is
        computed; the answers do not depend on the batching.
        """
        if not sentences:
            return []
        if self.serialize == "call":
            with self._lock:
                results = self._classify(sentences, progress)
        else:
            results = self._classify(sentences, progress)
        from service.analysis.counters import SENTENCES

        SENTENCES.inc(len(results))
        return apply_min_score(results, self.min_score if min_score is None else min_score)

    def _classify(self, sentences: Sentences, progress: bool) -> list[tuple[str, float]]:
        """(best risk category, risk score) of each sentence."""
        return self.read_logits(self._logits(sentences, progress))

    def read_logits(self, logits) -> list[tuple[str, float]]:
        """(best risk category, risk score) of each row of ``logits`` at the model's
        temperature: how classify reads the classifier, and calibration with it
        (ml/calibrate.py), so that both score a sentence alike."""
        probabilities = softmax(np.asarray(logits, dtype=np.float32) / self.temperature)
        risk_scores = mapped(1 - probabilities[:, self._none_id], self.score_map)
        probabilities[:, self._none_id] = -1  # the best risk category
        categories = probabilities.argmax(axis=-1)
        return [(self.labels[category], risk)
                for category, risk in zip(categories.tolist(), risk_scores.tolist())]

    def logits(self, sentences: Sentences):
        """The model's raw logits (sentences × labels, as a float tensor, in input order),
        for calibration (ml/calibrate.py): training's side, which has torch."""
        import torch

        if self.serialize == "call":
            with self._lock:
                return torch.from_numpy(self._logits(sentences, progress=False))
        return torch.from_numpy(self._logits(sentences, progress=False))

    def _logits(self, sentences: Sentences, progress: bool) -> np.ndarray:
        if self.serialize == "call":
            encoded = self._tokenize(sentences)
        else:
            with self._lock:
                encoded = self._tokenize(sentences)
        input_ids = encoded["input_ids"]
        logits = np.empty((len(input_ids), len(self.labels)), dtype=np.float32)
        batches = plan_batches([len(ids) for ids in input_ids], self.batch_size)
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc="classify", unit="batch", file=sys.stderr)
        try:
            for indices in batches:
                logits[indices] = self._forward(pad_batch(encoded, indices, self.pad_values))
        except RuntimeError as error:  # e.g. CUDA out of memory
            raise AnalysisError(f"the classifier failed: {type(error).__name__}") from error
        return logits

    @property
    def input_mode(self):
        """How the model reads a sentence (model_spec.InputMode): what callers build its
        inputs with."""
        return self.spec.input_mode

    @property
    def max_length(self) -> int:
        return self.spec.max_length

    def _forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """The logits of one padded batch: from ONNX Runtime as they are, from torch on
        the model's device."""
        if self.runtime == "onnx":
            return self.model(**batch).logits
        import torch

        with torch.inference_mode():
            tensors = {key: torch.from_numpy(rows).to(self.device) for key, rows in batch.items()}
            return self.model(**tensors).logits.float().cpu().numpy()

    def _tokenize(self, sentences: Sentences) -> dict[str, list[list[int]]]:
        return self.spec.input_mode.encode(self.tokenizer, sentences, self.spec.max_length)

    @property
    def pad_values(self) -> dict[str, int]:
        """What tokenizer.pad fills each input with (right padding)."""
        return {"input_ids": self.tokenizer.pad_token_id or 0,
                "token_type_ids": self.tokenizer.pad_token_type_id, "attention_mask": 0}

    def analyze(self, text: str, *, min_score: float | None = None) -> Analysis:
        """A Finding for each sentence of ``text`` whose risk score reaches ``min_score``
        (default: the model's operating point)."""
        return Analysis(findings_of(text, self.classify, min_score=min_score))


def _damaged_model_errors() -> tuple[type[BaseException], ...]:
    """What loading a missing or damaged model folder raises: each is a model that is not
    there (503, its folder named), not a fault of the service."""
    from google.protobuf.message import DecodeError  # onnx reading a graph to quantize it
    from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidGraph, InvalidProtobuf
    from safetensors import SafetensorError

    return (OSError, ValueError, KeyError, TypeError, SafetensorError, InvalidProtobuf,
            InvalidGraph, Fail, DecodeError, TokenizerError)


def _onnx_model(model_dir: Path, quantize: str):
    """The model folder's classifier in ONNX Runtime: from its model.onnx, or exported now
    from its torch weights when it has none (a folder written before ml.train wrote one)."""
    from service.analysis.onnx_model import OnnxModel

    if (model_dir / ONNX).is_file():
        return OnnxModel.load(model_dir / ONNX, label_config(model_dir), quantize=quantize)
    log.info("%s has no %s: exporting the torch model at start-up (python -m ml.export "
             "writes it)", model_dir, ONNX)
    return OnnxModel.build(_torch_model(model_dir), quantize=quantize)


def _torch_model(model_dir: Path):
    """The folder's classifier in torch, with ``input_names``: the inputs its forward pass
    takes, in the tokenizer's order (an MPNet takes no token_type_ids)."""
    import inspect

    model = torch_classifier(model_dir).from_pretrained(model_dir, local_files_only=True)
    takes = inspect.signature(model.forward).parameters
    model.input_names = [name for name in INPUT_NAMES if name in takes]
    return model


def torch_classifier(model_dir: Path):
    """The transformers class of the folder's classifier (one sequence classifier a model
    since the window models' token classifiers were retired: model_spec.py)."""
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification


def label_config(model_dir: Path) -> SimpleNamespace:
    """What the classifier reads of the folder's config.json: its labels by output index
    (``id2label``, ``num_labels``), as transformers' config gives them."""
    config = ModelFolder(model_dir).config()
    id2label = {int(index): label for index, label in config["id2label"].items()}
    return SimpleNamespace(id2label=id2label, num_labels=len(id2label))


def quantize_int8(model):
    """The model with its Linear layers in torch's dynamic int8 (weights int8 per output
    channel, activations quantized per batch at run time); CPU only. Per channel agrees with
    fp32 more often than per tensor, as fast (docs/throughput.md#torchs-dynamic-int8).
    """
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    # torch deprecates torch.ao.quantization in favour of torchao (not a dependency here);
    # 2.13 still has it, and warns on each call.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (UserWarning, DeprecationWarning))
        return quantize_dynamic(model.float().cpu(), {torch.nn.Linear: per_channel_dynamic_qconfig},
                                dtype=torch.qint8)


def _is_quantized(model) -> bool:
    return any(type(module).__module__.startswith("torch.ao.nn.quantized")
               for module in model.modules())


def read_calibration(model_dir: Path
                     ) -> tuple[float, float, tuple[float, float, float] | None]:
    """(temperature, min_score, score map or None) from the folder's calibration.json, or
    the defaults."""
    try:
        calibration = ModelFolder(model_dir).calibration()
        if calibration is None:
            return DEFAULT_TEMPERATURE, DEFAULT_MIN_SCORE, None
        if calibration.score_map is not None and not valid_score_map(calibration.score_map):
            raise ValueError("score_map needs a slope > 0, an intercept and a floor "
                             "within 0..1, all finite")
        return calibration.temperature, calibration.min_score, calibration.score_map
    except ValueError as error:
        raise ModelNotFoundError(f"{Path(model_dir) / CALIBRATION_JSON} is unreadable: "
                                 f"{type(error.__cause__ or error).__name__}") from error


def model_spec(model_dir: Path) -> ModelSpec:
    """The folder's ModelSpec (ModelFolder.spec); ModelNotFoundError for one that cannot be
    served as recorded (a retired input mode, an unreadable record)."""
    try:
        return ModelFolder(model_dir).spec()
    except UnknownInputMode as error:
        raise ModelNotFoundError(f"model {Path(model_dir).name} {error}") from None
    except (OSError, ValueError, TypeError) as error:
        raise ModelNotFoundError(f"{Path(model_dir) / TRAINING_JSON} is unreadable: "
                                 f"{type(error).__name__}") from None
