"""ml.reader_recipes: a reader trained elsewhere is measured here through its logits alone.

What the figures rest on: a model's recorded logits, read back through the service's own
TransformerAnalyzer, score documents and calibrate exactly as the model does; and the
encoder that travels in pieces comes back whole, within bf16's rounding, or not at all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from ml import reader_pieces, reader_recipes
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


INPUTS = [("The vendor may slip.", "Risks"), "A sentence alone."]


@pytest.fixture(scope="module")
def pieces(scan_model_dir, tmp_path_factory) -> list[Path]:
    """The suite's model packed once (xz takes a minute on 2 cores)."""
    return reader_pieces.pack(Path(scan_model_dir), INPUTS, tmp_path_factory.mktemp("pieces"),
                              piece_bytes=1 << 20)


def test_the_encoder_comes_back_from_its_pieces_within_bf16(scan_model_dir, pieces,
                                                            tmp_path) -> None:
    import torch
    from safetensors.torch import load_file

    assert len(pieces) > 1 and all(p.stat().st_size <= 1 << 20 for p in pieces)

    encoder = reader_pieces.unpack(list(reversed(pieces)), tmp_path / "there")

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
    assert reader_recipes.read_inputs(tmp_path / "there" / "inputs.json.gz") == INPUTS


def test_a_damaged_piece_is_refused_before_anything_is_unpacked(pieces, tmp_path) -> None:
    copied = tmp_path / "pieces"
    shutil.copytree(pieces[0].parent, copied)  # the module's pieces stay whole
    damaged = bytearray((copied / pieces[0].name).read_bytes())
    damaged[100] ^= 0xFF
    (copied / pieces[0].name).write_bytes(bytes(damaged))

    with pytest.raises(SystemExit, match="digest differs"):
        reader_pieces.unpack(sorted(copied.glob("piece-*")), tmp_path / "there")
    assert not (tmp_path / "there" / "encoder").exists()


def test_the_corpus_rows_read_there_are_those_ml_train_reads_here(tmp_path,
                                                                   monkeypatch) -> None:
    import ml.corpus
    from ml.recipe import parse_config
    from ml.splits import load_split

    mix = ["--corpus", "corpus", "--corpus-collections", "openstack"]
    config = parse_config([*mix, "--version", "x"])
    held = load_split(config.data_dir, "validation").texts + \
        load_split(config.data_dir, "test").texts
    expected = ml.corpus.training_split(config.resolved_corpus(), held_out=held,
                                        collections="openstack")
    reader_pieces.write_corpus_rows(tmp_path / "rows.json.gz", [mix])
    original = ml.corpus.training_split
    monkeypatch.setattr(ml.corpus, "training_split", original)  # restored after the test

    reader_pieces.read_corpus_rows(tmp_path / "rows.json.gz")
    there = ml.corpus.training_split(config.resolved_corpus(), held_out=held, seed=7,
                                     collections="openstack")

    assert len(expected.texts) > 100
    assert there == expected
    assert ml.corpus.training_split is not original  # the rows, not spaCy, answered


def test_the_staged_code_reads_a_corpus_recipe_without_spacy_or_flask(tmp_path) -> None:
    """What a lent machine lacks (spaCy, Flask) is never imported by the training there."""
    staged = reader_pieces.stage_code(tmp_path / "run")
    program = (
        "import sys\n"
        "sys.modules.update(spacy=None, flask=None, flask_sqlalchemy=None)\n"
        "from ml.reader_pieces import without_flask\n"
        "without_flask()\n"
        "import ml.train\n"
        "from ml.reader_recipes import RECIPES\n"
        "from ml.recipe import parse_config\n"
        "config = parse_config([*RECIPES['corpus-e2-s7'], '--version', 'x'])\n"
        "print(ml.train.__file__, config.resolved_corpus())\n")
    done = subprocess.run([sys.executable, "-c", program], cwd=staged, capture_output=True,
                          text=True, env={"PATH": os.environ["PATH"]}, check=False)

    assert done.returncode == 0, done.stderr
    module, corpus = done.stdout.split()
    assert Path(module).is_relative_to(staged) and Path(corpus).is_relative_to(staged)


def test_the_all_mix_is_the_readers_own_recipe() -> None:
    """reader_recipes spells ml.reader's data out (importing ml.reader there would bring
    Flask, which a lent machine lacks): the two must not drift apart."""
    from ml import reader

    assert reader_recipes.DATA["all"] == reader.DATA_FLAGS
