"""The fast paths give the plain path's answers: ONNX Runtime (fp32, the CPU default, and
int8), torch's int8, dynamic batching, and classify called from many threads at once. The
plain path, the reference, is the torch model in fp32. (Their speed is bench/'s business,
not a test's.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.evaluate import compute_metrics, read_labelled_jsonl
from service.analysis.base import AnalysisError
from service.analysis.batching import DynamicBatcher
from service.analysis.model_folder import INT8_ONNX, ONNX
from service.analysis.onnx_model import FP32_LAYERS, OnnxModel, export, fp32_nodes, save_int8
from service.analysis.transformer import TransformerAnalyzer
from service.config import ConfigError, Settings
from testkit.model_folders import copy_model

# ONNX Runtime's int8 (MODEL_QUANTIZE=int8 under the default runtime) is held to the
# project's bar: on the real model 99.1–99.9% of labels agree with fp32 on three held-out
# sets (docs/throughput.md); the small model the
# suite trains is less sure of itself (more sentences whose two best labels are almost tied,
# which is what int8 rounding flips), and agreed on 98.4% of its 440 held-out sentences
# (torch's int8: 93.6%). The bound leaves room for other CPUs (ONNX Runtime's int8 kernels
# differ between CPUs with and without VNNI); a broken export or quantization agrees on far
# less.
MIN_ONNX_AGREEMENT = 0.97
# torch's dynamic int8 (MODEL_RUNTIME=torch, MODEL_QUANTIZE=int8) is held to "it does not break the model" only:
# about 94% on the small test model and 94.6% on the real model (macro-F1 +0.4 points), short
# of the 99% the project asks, which is why ONNX Runtime's is the one recommended.
MIN_AGREEMENT = 0.85
# On ~350 held-out sentences and eleven labels a weak test model's macro-F1 moves by several
# points when a handful of near-tied sentences flip (3.9 points measured on the model CI
# trains); a broken quantization costs tens of points. The real model: +0.4 (docs/throughput.md).
MAX_MACRO_F1_DROP = 0.05


@pytest.fixture(scope="module")
def held_out(held_out_path):
    return read_labelled_jsonl(held_out_path)


@pytest.fixture(scope="module")
def fp32(scan_model_dir):
    return TransformerAnalyzer(scan_model_dir, device="cpu", runtime="torch")


@pytest.fixture(scope="module")
def int8(scan_model_dir):
    return TransformerAnalyzer(scan_model_dir, device="cpu", runtime="torch", quantize="int8")


@pytest.fixture(scope="module")
def onnx_fp32(scan_model_dir):
    return TransformerAnalyzer(scan_model_dir, device="cpu")  # the CPU's default


@pytest.fixture(scope="module")
def onnx_int8(scan_model_dir):
    return TransformerAnalyzer(scan_model_dir, device="cpu", quantize="int8")


def _documents(texts, size=7):
    return [texts[start:start + size] for start in range(0, len(texts), size)]


def _same(answers, expected, tolerance=1e-5):
    """Same labels, and scores equal up to float rounding (batch composition changes the
    padding, and with it the order of some float sums)."""
    assert [label for label, _ in answers] == [label for label, _ in expected]
    assert answers == [(label, pytest.approx(score, abs=tolerance)) for label, score in expected]


# ---------------------------------------------------------------------------------------
# ONNX Runtime, fp32: the CPU's default


def test_onnx_is_the_cpu_default_and_runs_the_trained_graph(scan_model_dir, fp32,
                                                             onnx_fp32) -> None:
    assert (Path(scan_model_dir) / ONNX).is_file()  # written by ml.train
    assert isinstance(onnx_fp32.model, OnnxModel)
    assert (onnx_fp32.runtime, onnx_fp32.quantize) == ("onnx", "none")
    assert (fp32.runtime, fp32.quantize) == ("torch", "none")
    assert onnx_fp32.labels == fp32.labels and onnx_fp32.version == fp32.version
    assert onnx_fp32.device == torch.device("cpu")


def test_onnx_fp32_gives_the_torch_models_answers(fp32, onnx_fp32, held_out) -> None:
    # Same graph, other kernels: the float sums round differently, nothing more.
    _same(onnx_fp32.classify(held_out[0]), fp32.classify(held_out[0]), tolerance=1e-4)


def test_a_model_folder_without_its_onnx_graph_is_exported_at_load(scan_model_dir, fp32,
                                                                   held_out, tmp_path) -> None:
    older = shutil.copytree(scan_model_dir, tmp_path / "older",
                            ignore=shutil.ignore_patterns(ONNX))
    analyzer = TransformerAnalyzer(older, device="cpu")

    assert isinstance(analyzer.model, OnnxModel) and not (older / ONNX).exists()
    _same(analyzer.classify(held_out[0][:50]), fp32.classify(held_out[0][:50]), tolerance=1e-4)


def test_ml_export_writes_a_readable_graph_the_service_loads(scan_model_dir, fp32, held_out,
                                                             tmp_path) -> None:
    older = shutil.copytree(scan_model_dir, tmp_path / "older",
                            ignore=shutil.ignore_patterns(ONNX))
    done = subprocess.run([sys.executable, "-m", "ml.export", "--model", str(older)],
                          check=False, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr
    assert (older / ONNX).stat().st_mode & 0o777 == 0o644
    assert [path.name for path in older.iterdir() if path.name.startswith(".")] == []
    analyzer = TransformerAnalyzer(older, device="cpu")
    _same(analyzer.classify(held_out[0][:50]), fp32.classify(held_out[0][:50]), tolerance=1e-4)


def test_exporting_leaves_the_torch_model_as_it_was(scan_model_dir, held_out, tmp_path) -> None:
    analyzer = TransformerAnalyzer(scan_model_dir, device="cpu", runtime="torch")
    before = analyzer.classify(held_out[0][:30])
    export(analyzer.model, list(analyzer.tokenizer.model_input_names), tmp_path / ONNX)

    # Not in training mode afterwards (dropout would make every answer random).
    assert not any(module.training for module in analyzer.model.modules())
    _same(analyzer.classify(held_out[0][:30]), before)


# ---------------------------------------------------------------------------------------
# ONNX Runtime, int8


def test_onnx_int8_keeps_the_first_layers_in_fp32(fp32, onnx_int8) -> None:
    model = onnx_int8.model
    assert isinstance(model, OnnxModel)
    assert (onnx_int8.runtime, onnx_int8.quantize) == ("onnx", "int8")
    layers = fp32.model.config.num_hidden_layers
    assert FP32_LAYERS < layers
    # Six weight products a layer (query, key, value, attention output, FFN in and out).
    assert model.fp32_matmuls == 6 * FP32_LAYERS
    assert model.int8_matmuls >= 6 * (layers - FP32_LAYERS)
    assert onnx_int8.labels == fp32.labels and onnx_int8.version == fp32.version
    assert onnx_int8.device == torch.device("cpu")



def test_a_folders_own_int8_graph_is_loaded_as_it_is(scan_model_dir, held_out, tmp_path) -> None:
    # ml.cascade writes a reader's int8 graph with the fp32 layers its check needed; the
    # service then loads that graph instead of quantizing with the default count at start.
    folder = copy_model(Path(scan_model_dir), tmp_path / "model")
    save_int8(folder, FP32_LAYERS + 1)

    own = TransformerAnalyzer(folder, device="cpu", quantize="int8")
    at_start = OnnxModel.load(Path(scan_model_dir) / ONNX, own.model.config, quantize="int8",
                              fp32_layers=FP32_LAYERS + 1)

    assert (folder / INT8_ONNX).is_file() and not (Path(scan_model_dir) / INT8_ONNX).exists()
    assert own.model.fp32_matmuls == 6 * (FP32_LAYERS + 1) == at_start.fp32_matmuls
    assert own.model.int8_matmuls == at_start.int8_matmuls
    texts = held_out[0][:40]
    own_logits = own._logits(texts, progress=False)
    own.model = at_start
    np.testing.assert_allclose(own_logits, own._logits(texts, progress=False), atol=1e-6)


def test_an_int8_graph_can_keep_only_some_feed_forward_outputs_in_fp32(scan_model_dir,
                                                                       tmp_path) -> None:
    # The reader's graph keeps the products int8 costs most labels in, not whole layers:
    # each named layer's feed-forward output, not its attention output or anything else.
    import onnx

    folder = copy_model(Path(scan_model_dir), tmp_path / "model")
    kept = fp32_nodes(onnx.load(str(folder / ONNX)), 0, (4, 5))
    assert len(kept) == 2
    assert all("/output/dense/" in name and "attention" not in name for name in kept)
    assert {name.split("/layer.")[1].split("/")[0] for name in kept} == {"4", "5"}

    save_int8(folder, 0, (4, 5))
    served = TransformerAnalyzer(folder, device="cpu", quantize="int8").model
    assert served.fp32_matmuls == 2 and served.int8_matmuls >= 6 * 6 - 2
    ops = {node.name: node.op_type for node in onnx.load(str(folder / INT8_ONNX)).graph.node}
    assert [ops.get(name) for name in kept] == ["MatMul", "MatMul"]  # fp32, by their names


def test_int8_weights_fit_in_seven_bits_for_cpus_without_vnni(scan_model_dir, tmp_path) -> None:
    # On AVX2 without VNNI, ONNX Runtime's u8 x s8 kernel adds pairs of products in 16 bits;
    # full-range weights overflow it (the reader then said `none` to every sentence), so the
    # graph a folder keeps holds its weights to 7 bits whatever CPU wrote it.
    import onnx
    from onnx import numpy_helper

    folder = copy_model(Path(scan_model_dir), tmp_path / "model")
    graph = onnx.load(str(save_int8(folder, 0))).graph
    weights = [numpy_helper.to_array(item) for item in graph.initializer
               if item.data_type == onnx.TensorProto.INT8 and item.name.endswith("_quantized")]
    assert len(weights) >= 6 * 6
    assert max(int(abs(w.astype(int)).max()) for w in weights) <= 64  # 127 at full range


def _compare(plain_analyzer, fast_analyzer, held_out):
    """(plain answers, fast answers, share of equal labels, macro-F1 plain, macro-F1 fast)."""
    texts, gold = held_out
    plain, fast = plain_analyzer.classify(texts), fast_analyzer.classify(texts)
    agreement = sum(p[0] == q[0] for p, q in zip(plain, fast)) / len(texts)
    f1_plain = compute_metrics(gold, [label for label, _ in plain])["macro_f1"]
    f1_fast = compute_metrics(gold, [label for label, _ in fast])["macro_f1"]
    return plain, fast, agreement, f1_plain, f1_fast


def test_onnx_int8_agrees_with_fp32_on_held_out_sentences(fp32, onnx_int8, held_out) -> None:
    plain, quantized, agreement, f1_plain, f1_int8 = _compare(fp32, onnx_int8, held_out)

    assert agreement >= MIN_ONNX_AGREEMENT
    assert f1_int8 >= f1_plain - MAX_MACRO_F1_DROP
    # Where the labels agree, so do the probabilities, roughly: int8 moves them a little.
    differences = [abs(p[1] - q[1]) for p, q in zip(plain, quantized) if p[0] == q[0]]
    assert sorted(differences)[len(differences) // 2] < 0.02


def test_onnx_int8_answers_in_input_order_whatever_the_batching(onnx_int8, held_out) -> None:
    texts = held_out[0][:40]
    whole = onnx_int8.classify(texts)  # length-sorted batches of 32, then 8
    one_by_one = [onnx_int8.classify([text])[0] for text in texts[:12]]

    # Activations are quantized per batch, so a near-tie may round apart; a mix-up of the
    # order would change most labels.
    assert sum(a[0] == b[0] for a, b in zip(one_by_one, whole)) >= 11


def test_onnx_int8_works_behind_the_dynamic_batcher(onnx_int8, held_out) -> None:
    documents = _documents(held_out[0][:70], size=7)
    expected = [onnx_int8.classify(document) for document in documents]
    batcher = DynamicBatcher(onnx_int8, max_batch=64)
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(batcher.classify, documents))
    finally:
        batcher.close()
    for answer, plain in zip(answers, expected):
        # Activations are quantized per batch: another batch may round a near-tie apart.
        same = sum(a[0] == b[0] for a, b in zip(answer, plain))
        assert same >= len(plain) - 1


# ---------------------------------------------------------------------------------------
# int8 (torch)


def test_int8_quantizes_the_linear_layers(fp32, int8) -> None:
    assert (int8.runtime, int8.quantize) == ("torch", "int8")
    assert not any(type(module) is torch.nn.Linear for module in int8.model.modules())
    assert int8.labels == fp32.labels and int8.version == fp32.version


def test_int8_agrees_with_fp32_on_held_out_sentences(fp32, int8, held_out) -> None:
    _, _, agreement, f1_plain, f1_int8 = _compare(fp32, int8, held_out)

    assert agreement >= MIN_AGREEMENT
    assert f1_int8 >= f1_plain - MAX_MACRO_F1_DROP


@pytest.mark.parametrize(("runtime", "quantize"), [("auto", "int8"), ("torch", "int8"),
                                                   ("onnx", "none")])
def test_cpu_only_paths_are_refused_on_cuda(scan_model_dir, runtime, quantize) -> None:
    with pytest.raises(AnalysisError, match="CPU only"):
        TransformerAnalyzer(scan_model_dir, device="cuda", runtime=runtime, quantize=quantize)


def test_runtime_and_quantize_settings_are_validated() -> None:
    def settings(**values):
        return Settings.from_env(values, RISKSCAN_ENV="testing")

    assert settings().MODEL_RUNTIME == "auto" and settings().MODEL_QUANTIZE == "none"
    assert settings(MODEL_QUANTIZE="INT8").MODEL_QUANTIZE == "int8"
    # The older spelling, from before ONNX Runtime was the CPU's default runtime.
    assert settings(MODEL_QUANTIZE="ONNX-int8").MODEL_QUANTIZE == "int8"
    assert settings(MODEL_RUNTIME=" Torch").MODEL_RUNTIME == "torch"
    with pytest.raises(ConfigError, match="MODEL_QUANTIZE"):
        settings(MODEL_QUANTIZE="int4")
    with pytest.raises(ConfigError, match="MODEL_RUNTIME"):
        settings(MODEL_RUNTIME="tensorrt")
    with pytest.raises(ConfigError, match="MODEL_MAX_BATCH"):
        Settings.from_env({"MODEL_MAX_BATCH": "0"}, RISKSCAN_ENV="testing")


# ---------------------------------------------------------------------------------------
# Thread safety


@pytest.mark.parametrize("serialize", ["call", "tokenizer"])
def test_classify_from_8_threads_answers_as_sequential_calls(fp32, held_out, serialize,
                                                              monkeypatch) -> None:
    monkeypatch.setattr(fp32, "serialize", serialize)
    documents = _documents(held_out[0][:160], size=5) * 3
    expected = [fp32.classify(document) for document in documents]
    start = threading.Barrier(8, timeout=120)  # a hang guard: a thread lost fails the test

    def hammer(index):
        if index < 8:
            start.wait()
        return fp32.classify(documents[index])

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(hammer, range(len(documents))))

    for answer, sequential in zip(answers, expected):
        _same(answer, sequential, tolerance=1e-6)


def test_classified_sentences_are_counted(fp32, held_out) -> None:
    from service.analysis.counters import SENTENCES

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
        batched = batcher.analyze(text).findings
        assert (batcher.source, batcher.version) == (fp32.source, fp32.version)
        assert batcher.classify([]) == []
    finally:
        batcher.close()
    plain = fp32.analyze(text).findings
    assert [(f.risk, f.category, f.start, f.end) for f in batched] \
        == [(f.risk, f.category, f.start, f.end) for f in plain]
    assert [f.score for f in batched] == [pytest.approx(f.score, abs=2e-4) for f in plain]


def test_a_failing_batch_fails_each_of_its_requests(fp32) -> None:
    class Broken:
        min_score = 0.5

        def classify(self, sentences, **_kwargs):
            raise AnalysisError("the classifier failed: RuntimeError")

    batcher = DynamicBatcher(Broken(), max_batch=8)
    try:
        with pytest.raises(AnalysisError, match="classifier failed"):
            batcher.classify(["One sentence."])
    finally:
        batcher.close()


def _on_a_thread(function, *args, **kwargs) -> Future:
    """``function(*args, **kwargs)`` on a daemon thread: a call that hangs fails the test at
    ``result(timeout)`` instead of stalling the suite at an executor's shutdown."""
    future: Future = Future()

    def run():
        try:
            future.set_result(function(*args, **kwargs))
        except BaseException as error:  # noqa: BLE001 - handed to the test
            future.set_exception(error)

    threading.Thread(target=run, daemon=True).start()
    return future


def test_a_failing_group_fails_every_request_in_it_and_the_next_call_works() -> None:
    """Three requests queue while a first one is being classified, so they are classified
    as one group; that call fails: each of the three gets the error (none hangs, none gets
    another's answers), and the batcher, its lead given up, answers the next calls."""
    started, release = threading.Event(), threading.Event()
    calls: list[list[str]] = []

    class Analyzer:  # the batcher alone is under test: a stand-in for the model
        min_score = 0.5

        def classify(self, sentences, **_kwargs):
            calls.append(list(sentences))
            if len(calls) == 1:
                started.set()
                assert release.wait(30)
            if len(calls) == 2:
                raise AnalysisError("the classifier failed: RuntimeError")
            return [("budget", 0.9)] * len(sentences)

    batcher = DynamicBatcher(Analyzer(), max_batch=64)
    requests = {name: [f"{name} one.", f"{name} two."] for name in "BCD"}
    try:
        first = _on_a_thread(batcher.classify, ["A one."])
        assert started.wait(30)  # A leads, its group being classified
        waiting = {name: _on_a_thread(batcher.classify, sentences)
                   for name, sentences in requests.items()}
        with batcher._changed:  # B, C and D queued behind A (each notifies)
            assert batcher._changed.wait_for(lambda: len(batcher._queue) == 3, 30)
        release.set()
        assert first.result(30) == [("budget", 0.9)]
        for future in waiting.values():
            with pytest.raises(AnalysisError, match="classifier failed"):
                future.result(30)
        assert len(calls) == 2  # B, C and D in one call
        assert sorted(calls[1]) == sorted(s for group in requests.values() for s in group)

        assert _on_a_thread(batcher.classify, ["E one.", "E two."]).result(30) \
            == [("budget", 0.9)] * 2
        assert _on_a_thread(batcher.classify, ["F one."], min_score=0.95).result(30) \
            == [("none", pytest.approx(0.1))]
        assert batcher.batches == 4
    finally:
        release.set()
        batcher.close()


def test_load_model_builds_what_the_settings_ask_for(scan_model_dir) -> None:
    from service.serving.loading import load_model

    base = {"RISKSCAN_ENV": "testing", "MODEL_DIR": str(scan_model_dir), "MODEL_DEVICE": "cpu"}
    plain, _ = load_model(Settings.from_env({}, MODEL_DYNAMIC_BATCHING=False, **base))
    default, _ = load_model(Settings.from_env({}, **base))
    batched, _ = load_model(Settings.from_env({}, MODEL_DYNAMIC_BATCHING=True,
                                              MODEL_MAX_BATCH=16, **base))
    quantized, _ = load_model(Settings.from_env({}, MODEL_RUNTIME="torch", MODEL_QUANTIZE="int8",
                                                MODEL_DYNAMIC_BATCHING=False, **base))
    in_onnx, _ = load_model(Settings.from_env({}, MODEL_QUANTIZE="int8", **base))

    assert isinstance(plain, TransformerAnalyzer)
    assert (plain.runtime, plain.quantize) == ("onnx", "none")
    # Dynamic batching is on by default (docs/throughput.md), over the one loaded model.
    assert isinstance(default, DynamicBatcher) and default.analyzer is plain
    assert (default.max_batch, default.max_wait) == (256, 0)
    assert isinstance(batched, DynamicBatcher) and batched.analyzer is plain
    assert batched.max_batch == 16
    assert isinstance(quantized, TransformerAnalyzer)
    assert (quantized.runtime, quantized.quantize) == ("torch", "int8")
    assert isinstance(in_onnx, DynamicBatcher)
    assert (in_onnx.runtime, in_onnx.quantize) == ("onnx", "int8")
    assert isinstance(in_onnx.analyzer.model, OnnxModel)
    assert load_model(Settings.from_env({}, MODEL_DYNAMIC_BATCHING=True, MODEL_MAX_BATCH=16,
                                        **base))[0] is batched


def test_a_lone_request_is_classified_on_its_own_thread(fp32, held_out) -> None:
    """No hand-off: with nothing else queued, the caller's thread runs the classify (the
    per-request path), so a lone client pays nothing for dynamic batching."""
    seen = []

    class Spy:
        min_score = fp32.min_score

        def classify(self, sentences, **kwargs):
            seen.append(threading.current_thread())
            return fp32.classify(sentences, **kwargs)

    batcher = DynamicBatcher(Spy())
    try:
        assert batcher.classify(held_out[0][:5]) == fp32.classify(held_out[0][:5])
        worker = ThreadPoolExecutor(1)
        caller = worker.submit(threading.current_thread).result()
        worker.submit(batcher.classify, held_out[0][5:9]).result()
        worker.shutdown()
    finally:
        batcher.close()
    assert seen == [threading.current_thread(), caller]
    assert batcher.batches == 2


def test_a_closed_batcher_refuses_new_requests(fp32) -> None:
    batcher = DynamicBatcher(fp32)
    batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.classify(["One sentence."])


# ---------------------------------------------------------------------------------------
# OpenMP's wait policy (service/analysis/openmp.py)


def _environment_after_import(**environment) -> str:
    """OMP_WAIT_POLICY as torch's OpenMP finds it when the service's analysis code loads
    torch, in a fresh interpreter with ``environment``."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    code = ("import os, service.analysis.transformer\n"
            "print(os.environ.get('OMP_WAIT_POLICY', '-'))")
    result = subprocess.run([sys.executable, "-c", code], env={**env, **environment},
                            capture_output=True, text=True, timeout=120, check=True)
    return result.stdout.strip()


def test_openmp_threads_sleep_instead_of_spinning_unless_told_otherwise() -> None:
    assert _environment_after_import() == "PASSIVE"
    assert _environment_after_import(OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"
    assert _environment_after_import(GOMP_SPINCOUNT="10000") == "-"
