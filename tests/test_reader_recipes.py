"""ml.reader_recipes: a reader trained elsewhere is measured here through its logits alone.

What the figures rest on: a model's recorded logits, read back through the service's own
TransformerAnalyzer, score documents and calibrate exactly as the model does; and the
encoder that travels in pieces comes back whole, within bf16's rounding, or not at all.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")

from ml import reader_recipes
from ml.calibrate import calibrate_and_score, calibration_of
from ml.documents import read_documents, score_documents
from ml.recipe import DEV_DOCUMENTS
from service.analysis.transformer import TransformerAnalyzer


@pytest.fixture(scope="module")
def documents():
    return read_documents(DEV_DOCUMENTS)[:6]


def _recorded_from(analyzer, documents, shuffle: bool = False):
    inputs = reader_recipes.inputs_of(documents, analyzer.input_mode)
    logits = analyzer.logits(inputs).numpy()
    if shuffle:  # the break-once check: rows that are not the inputs' own
        logits = logits[::-1].copy()
    return reader_recipes.recorded("recorded", analyzer.spec, analyzer.labels, inputs, logits)


def test_recorded_logits_score_documents_as_the_model_does(scan_model_dir, documents) -> None:
    model = TransformerAnalyzer(scan_model_dir)
    stand_in = _recorded_from(model, documents)
    stand_in.calibrate(model.temperature, model.min_score, score_map=model.score_map)

    assert score_documents(stand_in, documents) == score_documents(model, documents)
    assert stand_in.min_score == model.min_score
    shuffled = _recorded_from(model, documents, shuffle=True)
    shuffled.calibrate(model.temperature, model.min_score, score_map=model.score_map)
    assert score_documents(shuffled, documents) != score_documents(model, documents)


def test_recorded_logits_calibrate_as_the_models_folder_does(scan_model_dir, documents,
                                                             tmp_path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(scan_model_dir, folder)  # calibrate_and_score writes into the folder
    subset = tmp_path / "dev.jsonl"
    subset.write_text("".join(line + "\n" for line in
                              DEV_DOCUMENTS.read_text().splitlines()[:6]))
    expected, _, scored = calibrate_and_score(folder, subset, resamples=20)

    stand_in = _recorded_from(TransformerAnalyzer(folder), documents)
    calibration, recorded_scores = calibration_of(stand_in, documents, subset.name,
                                                  resamples=20)

    assert calibration == expected
    assert recorded_scores == scored
    assert (stand_in.temperature, stand_in.min_score) == (expected["temperature"],
                                                          expected["min_score"])


def test_the_encoder_comes_back_from_its_pieces_within_bf16(scan_model_dir, tmp_path) -> None:
    import torch
    from safetensors.torch import load_file

    inputs = [("The vendor may slip.", "Risks"), "A sentence alone."]
    pieces = reader_recipes.pack(Path(scan_model_dir), inputs, tmp_path / "pieces",
                                 piece_bytes=1 << 20)
    assert len(pieces) > 1 and all(p.stat().st_size <= 1 << 20 for p in pieces)

    encoder = reader_recipes.unpack(list(reversed(pieces)), tmp_path / "there")

    original = {k: v for k, v in load_file(Path(scan_model_dir) / "model.safetensors").items()
                if not k.startswith("pooler.")}
    back = load_file(encoder / "model.safetensors")
    assert back.keys() == original.keys()
    for name, tensor in original.items():
        if tensor.is_floating_point():  # bf16 keeps 8 significant bits
            assert torch.allclose(back[name], tensor, rtol=2 ** -8, atol=0), name
        else:
            assert torch.equal(back[name], tensor), name
    assert (encoder / "tokenizer.json").read_bytes() == \
        (Path(scan_model_dir) / "tokenizer.json").read_bytes()
    assert reader_recipes.read_inputs(tmp_path / "there" / "inputs.json.gz") == inputs


def test_a_damaged_piece_is_refused_before_anything_is_unpacked(scan_model_dir,
                                                                tmp_path) -> None:
    pieces = reader_recipes.pack(Path(scan_model_dir), ["x"], tmp_path / "pieces",
                                 piece_bytes=1 << 20)
    damaged = bytearray(pieces[0].read_bytes())
    damaged[100] ^= 0xFF
    pieces[0].write_bytes(bytes(damaged))

    with pytest.raises(SystemExit, match="digest differs"):
        reader_recipes.unpack(pieces, tmp_path / "there")
    assert not (tmp_path / "there" / "encoder").exists()
