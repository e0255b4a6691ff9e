"""ml.adapt: a deployment's unlabelled archive turns the encoder into one ml.train can
fine-tune (``--encoder-dir``), its weights moved by the archive's words; an archive with
nothing readable is refused, and a document it cannot read is skipped, not fatal."""

from __future__ import annotations

import json

import pytest

from ml.adapt import ArchiveError, archive_sentences, main, packed
from ml.encoders import encoder_dir

REPORT = """# Quarterly report

## Risks

The sole maintainer of the signing service is leaving in March. Our cloud credits expire
before the migration ends, and no sponsor has offered to cover the gap.

- The release pipeline still depends on an unmaintained plugin.
"""


@pytest.fixture
def archive(tmp_path):
    folder = tmp_path / "archive"
    (folder / "2025").mkdir(parents=True)
    (folder / "q1.md").write_text(REPORT, encoding="utf-8")
    (folder / "2025" / "q2.txt").write_text(REPORT.replace("March", "June"), encoding="utf-8")
    (folder / "2025" / "broken.pdf").write_bytes(b"%PDF-1.7 not really")
    (folder / "notes.bin").write_bytes(b"\x00\x01")  # not a document kind: not read at all
    return folder


def test_an_archive_adapts_the_encoder_into_a_folder_ml_train_reads(archive, tmp_path, capsys):
    from safetensors.numpy import load_file
    from transformers import AutoModelForSequenceClassification

    out = tmp_path / "adapted"
    assert main(["--archive", str(archive), "--steps", "3", "--batch-size", "2",
                 "--max-length", "32", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["documents"], report["skipped"]) == (2, 1)
    assert report["sentences"] == 6 and report["steps"] == 3  # headings are not sentences
    assert json.loads((out / "adaptation.json").read_text())["sequences"] == report["sequences"]
    assert (out / "tokenizer.json").is_file() and not list(tmp_path.glob(".adapted*"))

    before = load_file(encoder_dir("minilm") / "model.safetensors")
    after = load_file(out / "model.safetensors")
    name = next(key for key in after if key.endswith("encoder.layer.0.attention.self.query.weight"))
    assert abs(after[name] - before[name]).max() > 0  # the archive moved the encoder
    assert not any("cls.predictions" in key for key in after)  # the MLM head is dropped
    model = AutoModelForSequenceClassification.from_pretrained(out, local_files_only=True,
                                                               num_labels=11)
    assert model.config.num_labels == 11


def test_sentences_are_packed_whole_into_sequences_of_the_length():
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(encoder_dir("minilm"), local_files_only=True)
    sentences = ["The vendor may slip.", "Funding is uncertain.", "word " * 100]
    sequences = packed(sentences, tokenizer, max_length=16)
    assert all(len(ids) <= 16 for ids in sequences)
    assert tokenizer.decode(sequences[0], skip_special_tokens=True) == (
        "the vendor may slip. funding is uncertain.")
    assert len(sequences) == 2  # the long one alone, cut to the length


def test_an_archive_with_nothing_readable_is_refused(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "scan.pdf").write_bytes(b"%PDF-1.7 not really")
    with pytest.raises(ArchiveError, match="no readable document"):
        archive_sentences(tmp_path / "empty")
    with pytest.raises(SystemExit) as exited:
        main(["--archive", str(tmp_path / "empty"), "--out", str(tmp_path / "x")])
    assert exited.value.code == 2 and "no readable document" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_a_model_version_adapted_keeps_its_head_and_calibration(trained_model_dir, tmp_path):
    """What a deployment's candidate is fine-tuned from: the version's encoder adapted, its
    classifier head and calibration as they were, its stale ONNX graph gone."""
    from safetensors.numpy import load_file

    from ml.adapt import adapted_classifier

    out = adapted_classifier(trained_model_dir, [REPORT.splitlines()[4]] * 4,
                             tmp_path / "adapted", steps=2, batch_size=2, max_length=32)
    before = load_file(trained_model_dir / "model.safetensors")
    after = load_file(out / "model.safetensors")
    assert set(after) == set(before)
    assert all((after[key] == before[key]).all() for key in after if key.startswith("classifier"))
    query = next(key for key in after if key.endswith("layer.0.attention.self.query.weight"))
    assert abs(after[query] - before[query]).max() > 0
    kept = [name for name in ("calibration.json", "training_config.json", "labels.json")
            if (trained_model_dir / name).is_file()]
    assert kept and all((out / name).read_bytes() == (trained_model_dir / name).read_bytes()
                        for name in kept)
    assert not (out / "model.onnx").exists()
