"""The register's sentence encoder: what a register needs of its vectors, on real pairs.

The encoder is the real one (all-MiniLM-L6-v2 from its package, no download), in each of its
runtimes: ONNX Runtime int8 (the CPU's default), fp32, and torch (a GPU's).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from service.analysis.embedding import SentenceEncoder, from_bytes, to_bytes
from service.config import Settings

PAIRS = Path(__file__).resolve().parent.parent / "ml" / "data" / "register" / "pairs.jsonl"
SENTENCES = [
    "The vendor may not deliver the database licences before the cut-over.",
    "Licences from the vendor are still missing, so the cut-over could slip.",
    "The budget for external testers is overrun by 40 percent.",
    "Only one engineer knows the legacy interfaces, and she is on leave in May.",
    "Risk.",
]


def shipped_threshold() -> float:
    return next(default for name, default, _ in Settings.documentation()
                if name == "REGISTER_MATCH_THRESHOLD")


@pytest.fixture(scope="module")
def encoders():
    return {runtime: SentenceEncoder(runtime=runtime) for runtime in ("onnx-int8", "onnx",
                                                                       "torch")}


def test_vectors_are_unit_length_and_do_not_depend_on_their_batch(encoders):
    for runtime, encoder in encoders.items():
        together = encoder.embed(SENTENCES)
        alone = np.vstack([encoder.embed([sentence]) for sentence in SENTENCES])
        assert together.shape == (len(SENTENCES), encoder.dimensions) == (5, 384)
        assert together.dtype == np.float32
        assert np.allclose(np.linalg.norm(together, axis=1), 1, atol=1e-5), runtime
        # Batched by length with padding, or alone: the same vectors (padding is masked).
        # int8's dynamic quantization scales activations by the batch's range, so there a
        # sentence's vector moves a little with its company; far less than any threshold.
        if runtime == "onnx-int8":
            assert np.min((together * alone).sum(axis=1)) > 0.98
        else:
            assert np.allclose(together, alone, atol=1e-4), runtime
        assert encoder.embed([]).shape == (0, 384)


def test_the_runtimes_agree(encoders):
    torch_vectors = encoders["torch"].embed(SENTENCES)
    fp32 = encoders["onnx"].embed(SENTENCES)
    int8 = encoders["onnx-int8"].embed(SENTENCES)
    assert np.min((torch_vectors * fp32).sum(axis=1)) > 0.9999
    assert np.min((torch_vectors * int8).sum(axis=1)) > 0.97


def test_a_reworded_risk_is_closer_than_a_different_one(encoders):
    vectors = encoders["onnx-int8"].embed(SENTENCES[:3])
    same, different = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    threshold = shipped_threshold()
    assert same >= threshold > different, (same, different)


def test_the_shipped_threshold_matches_the_test_pairs_with_precision_and_recall_over_0_8(
        encoders):
    """The figures docs/register.md reports, on the pairs' test split: the register decides
    a pair as the same risk when its categories agree and its cosine reaches the setting."""
    from ml.match import scores, similarities

    pairs = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    test = [pair for pair in pairs if pair["split"] == "test"]
    assert len(test) > 150
    threshold = shipped_threshold()
    result = scores(test, similarities(encoders["onnx-int8"], test), threshold)
    assert result["precision"] >= 0.8 and result["recall"] >= 0.8, result


def test_vectors_survive_the_database_as_bytes():
    vector = np.linspace(-1, 1, 384, dtype=np.float32)
    assert len(to_bytes(vector)) == 384 * 4
    assert np.array_equal(from_bytes(to_bytes(vector)), vector)


def test_a_gpu_runtime_is_refused_for_onnx():
    with pytest.raises(ValueError, match="CPU only"):
        SentenceEncoder(device="cuda", runtime="onnx")


def test_the_graph_is_made_once_and_kept_and_gives_the_vectors_made_at_start(
        tmp_path, monkeypatch, caplog):
    """The graph a start reads is the one the first start made (no torch afterwards,
    tests/test_cpu_path.py), and its vectors are those of a graph made at that start."""
    from service.analysis import embedding

    made = SentenceEncoder(runtime="onnx-int8", graphs_root=tmp_path / "kept")
    [folder] = (tmp_path / "kept").iterdir()
    assert folder.name.startswith("all-MiniLM-L6-v2-") and \
        [path.name for path in folder.iterdir()] == ["encoder.int8.onnx"]
    exports = []
    monkeypatch.setattr(embedding, "_export", lambda *args, **kwargs: exports.append(args))
    kept = SentenceEncoder(runtime="onnx-int8", graphs_root=tmp_path / "kept")
    assert exports == []
    monkeypatch.undo()
    (tmp_path / "file").write_text("not a folder")
    unkept = SentenceEncoder(runtime="onnx-int8", graphs_root=tmp_path / "file" / "graphs")

    assert "cannot keep the sentence encoder's graph" in caplog.text
    assert np.array_equal(kept.embed(SENTENCES), made.embed(SENTENCES))
    assert np.array_equal(kept.embed(SENTENCES), unkept.embed(SENTENCES))
