"""The fast paths give the plain path's answers: int8 quantization, dynamic batching, and
classify called from many threads at once. (Their speed is bench/'s business, not a test's.)"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from ml.evaluate import compute_metrics, read_labelled_jsonl
from service.analysis.base import AnalysisError
from service.analysis.batching import DynamicBatcher
from service.analysis.transformer import TransformerAnalyzer
from service.config import ConfigError, Settings

# What int8 is held to here: it does not break the model. Measured agreement with fp32 was
# about 94% on the small test model and 94.6% on the real model (macro-F1 +0.4 points):
# short of the 99% the project asks before int8 may be recommended, which is why
# MODEL_QUANTIZE defaults to none (README, Throughput). A sentence whose two best labels
# are almost tied is what int8 rounding flips.
MIN_AGREEMENT = 0.85
# On ~350 held-out sentences and eleven labels a weak test model's macro-F1 moves by several
# points when a handful of near-tied sentences flip (3.9 points measured on the model CI
# trains); a broken quantization costs tens of points. The real model: +0.4 (README).
MAX_MACRO_F1_DROP = 0.05


@pytest.fixture(scope="module")
def held_out(held_out_path):
    return read_labelled_jsonl(held_out_path)


@pytest.fixture(scope="module")
def fp32(scan_model_dir):
    return TransformerAnalyzer(scan_model_dir, device="cpu")


@pytest.fixture(scope="module")
def int8(scan_model_dir):
    return TransformerAnalyzer(scan_model_dir, device="cpu", quantize="int8")


def _documents(texts, size=7):
    return [texts[start:start + size] for start in range(0, len(texts), size)]


def _same(answers, expected, tolerance=1e-5):
    """Same labels, and scores equal up to float rounding (batch composition changes the
    padding, and with it the order of some float sums)."""
    assert [label for label, _ in answers] == [label for label, _ in expected]
    assert answers == [(label, pytest.approx(score, abs=tolerance)) for label, score in expected]


# ---------------------------------------------------------------------------------------
# int8


def test_int8_quantizes_the_linear_layers(fp32, int8) -> None:
    assert fp32.quantize == "none" and int8.quantize == "int8"
    assert not any(type(module) is torch.nn.Linear for module in int8.model.modules())
    assert int8.labels == fp32.labels and int8.version == fp32.version


def test_int8_agrees_with_fp32_on_held_out_sentences(fp32, int8, held_out) -> None:
    texts, gold = held_out
    plain, quantized = fp32.classify(texts), int8.classify(texts)

    agree = [p[0] == q[0] for p, q in zip(plain, quantized)]
    assert sum(agree) / len(agree) >= MIN_AGREEMENT
    f1_plain = compute_metrics(gold, [label for label, _ in plain])["macro_f1"]
    f1_int8 = compute_metrics(gold, [label for label, _ in quantized])["macro_f1"]
    assert f1_int8 >= f1_plain - MAX_MACRO_F1_DROP


def test_int8_is_refused_on_cuda(scan_model_dir) -> None:
    with pytest.raises(AnalysisError, match="CPU only"):
        TransformerAnalyzer(scan_model_dir, device="cuda", quantize="int8")


def test_quantize_settings_are_validated() -> None:
    assert Settings.from_env({"MODEL_QUANTIZE": "INT8"}, RISKSCAN_ENV="testing").MODEL_QUANTIZE \
        == "int8"
    with pytest.raises(ConfigError, match="MODEL_QUANTIZE"):
        Settings.from_env({"MODEL_QUANTIZE": "int4"}, RISKSCAN_ENV="testing")
    with pytest.raises(ConfigError, match="MODEL_MAX_BATCH"):
        Settings.from_env({"MODEL_MAX_BATCH": "0"}, RISKSCAN_ENV="testing")


# ---------------------------------------------------------------------------------------
# Thread safety


@pytest.mark.parametrize("serialize", ["call", "tokenizer"])
def test_classify_from_8_threads_answers_as_sequential_calls(fp32, held_out, serialize,
                                                              monkeypatch) -> None:
    monkeypatch.setattr(fp32, "_serialize", serialize)
    documents = _documents(held_out[0][:160], size=5) * 3
    expected = [fp32.classify(document) for document in documents]
    start = threading.Barrier(8)

    def hammer(index):
        if index < 8:
            start.wait()
        return fp32.classify(documents[index])

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(hammer, range(len(documents))))

    for answer, sequential in zip(answers, expected):
        _same(answer, sequential, tolerance=1e-6)


def test_classified_sentences_are_counted(fp32, held_out) -> None:
    from service.metrics import SENTENCES

    before = SENTENCES._value.get()
    fp32.classify(held_out[0][:9])
    assert SENTENCES._value.get() == before + 9


# ---------------------------------------------------------------------------------------
# Dynamic batching


@pytest.mark.parametrize("max_wait_ms", [0, 5])
def test_dynamic_batching_answers_as_plain_classify(fp32, held_out, max_wait_ms) -> None:
    documents = _documents(held_out[0][:210], size=7)
    expected = [fp32.classify(document) for document in documents]
    batcher = DynamicBatcher(fp32, max_batch=32, max_wait_ms=max_wait_ms)
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(batcher.classify, documents))
        assert batcher.batches < len(documents)  # requests did share forward passes
    finally:
        batcher.close()
    for answer, plain in zip(answers, expected):
        _same(answer, plain)


def test_dynamic_batching_analyze_finds_what_the_analyzer_finds(fp32, held_out) -> None:
    text = "\n".join(held_out[0][:40])
    batcher = DynamicBatcher(fp32, max_batch=16)
    try:
        batched = batcher.analyze(text)
        assert (batcher.source, batcher.version) == (fp32.source, fp32.version)
        assert batcher.classify([]) == []
    finally:
        batcher.close()
    plain = fp32.analyze(text)
    assert [(f.risk, f.category, f.start, f.end) for f in batched] \
        == [(f.risk, f.category, f.start, f.end) for f in plain]
    assert [f.score for f in batched] == [pytest.approx(f.score, abs=2e-4) for f in plain]


def test_a_failing_batch_fails_each_of_its_requests(fp32) -> None:
    class Broken:
        def classify(self, sentences):
            raise AnalysisError("the classifier failed: RuntimeError")

    batcher = DynamicBatcher(Broken(), max_batch=8)
    try:
        with pytest.raises(AnalysisError, match="classifier failed"):
            batcher.classify(["One sentence."])
    finally:
        batcher.close()


def test_load_model_builds_what_the_settings_ask_for(scan_model_dir) -> None:
    from service.analysis.analyzers import load_model

    base = {"RISKSCAN_ENV": "testing", "MODEL_DIR": str(scan_model_dir), "MODEL_DEVICE": "cpu"}
    plain, _ = load_model(Settings.from_env({}, **base))
    batched, _ = load_model(Settings.from_env({}, MODEL_DYNAMIC_BATCHING=True,
                                              MODEL_MAX_BATCH=16, **base))
    quantized, _ = load_model(Settings.from_env({}, MODEL_QUANTIZE="int8", **base))

    assert isinstance(plain, TransformerAnalyzer) and plain.quantize == "none"
    assert isinstance(batched, DynamicBatcher) and batched.analyzer is plain
    assert batched.max_batch == 16
    assert isinstance(quantized, TransformerAnalyzer) and quantized.quantize == "int8"
    assert load_model(Settings.from_env({}, MODEL_DYNAMIC_BATCHING=True, MODEL_MAX_BATCH=16,
                                        **base))[0] is batched
