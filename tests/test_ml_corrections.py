"""Users' corrections back into training (``python -m ml.train --corrections``): the rows the
service exports, one training row a sentence, ties between users dropped, nothing of the
evaluation data learnt, and a hostile file refused naming its line before any training."""

from __future__ import annotations

import json

import pytest

from ml.correction_rows import (
    MAX_LINE_CHARS,
    InvalidCorrectionsError,
    corrections,
    read_corrections,
)
from ml.data.build_splits import exact_key
from service.analysis.labels import LABELS
from service.analysis.segment import MAX_SENTENCE_CHARS
from tests.findings import correct, export, scan
from tests.ml_runs import DATA_DIR, read_jsonl, run_module, write_jsonl
from tests.real_parts import require_or_skip

DEV_DOCUMENTS = DATA_DIR / "documents" / "dev.jsonl"


def rows(*pairs) -> list[dict]:
    return [{"text": text, "label": label, "source": f"feedback/{n}"}
            for n, (text, label) in enumerate(pairs)]


def kept(path, *, trained=(), sentences=(), documents=()) -> tuple[list, dict]:
    found = corrections(path, trained=trained, held_out_sentences=sentences,
                        held_out_documents=documents)
    return list(zip(found.texts, found.labels)), found.counts()


@pytest.mark.usefixtures("scored_app")
def test_two_users_exports_train_one_row_a_sentence_and_a_tie_none(app, client, accounts,
                                                                  tmp_path):
    """The very files the service writes: each user's own download, joined."""
    files = []
    for labels in (("legal", "vendor"), ("budget", "vendor"), ("legal", None)):
        _, headers = accounts.user(role="reviewer")  # their corrections teach at once
        scanned = scan(client, headers, "The budget is short. The vendor is late.")
        for finding, label in zip(scanned["data"], labels):
            if label:
                correct(client, headers, scanned["scan_id"], finding["id"], label)
        download = client.get("/api/v1/findings/feedback", headers=headers)
        assert download.status_code == 200
        files.append(download.data)
    joined = tmp_path / "corrections.jsonl"
    joined.write_bytes(b"".join(files))
    # "legal" twice against "budget" once wins; "vendor" from two users is one row.
    found, counts = kept(joined)
    assert sorted(found) == [("The budget is short.", "legal"), ("The vendor is late.", "vendor")]
    assert counts == {"lines": 5, "rows": 2, "duplicates": 3, "conflicts": 0, "held_out": 0,
                      "already_trained": 0}
    # The operator's export of everyone's has each sentence once, with the majority's label.
    everyone = tmp_path / "everyone.jsonl"
    export(app, everyone)
    found, counts = kept(everyone)
    assert sorted(found) == [("The budget is short.", "legal"), ("The vendor is late.", "vendor")]
    assert (counts["lines"], counts["duplicates"]) == (2, 0)

    tied = write_jsonl(tmp_path / "tied.jsonl", rows(("The budget is short.", "legal"),
                                                     ("the  BUDGET is short.", "budget"),
                                                     ("The vendor is late.", "vendor")))
    assert kept(tied) == ([("The vendor is late.", "vendor")],
                          {"lines": 3, "rows": 1, "duplicates": 1, "conflicts": 1,
                           "held_out": 0, "already_trained": 0})


def test_a_sentence_of_the_evaluation_data_is_dropped_and_counted(tmp_path):
    document = read_jsonl(DEV_DOCUMENTS)[0]["text"]
    in_document = next(line.strip() for line in document.splitlines() if len(line) > 40)
    path = write_jsonl(tmp_path / "corrections.jsonl", rows(
        ("Funding may run out in May.", "budget"),
        # Case and spacing do not hide it; hard-wrapped in the document, still found.
        (in_document.upper().replace(" ", "  "), "none"),
        ("The auditor has not been chosen.", "vendor"),
        ("The supplier is late.", "vendor"),
        ("Staff may leave.", "resource")))
    found, counts = kept(path, sentences=["the auditor has NOT been chosen."],
                         documents=[document.replace(" ", "\n", 3)],
                         trained=[("The supplier is late.", "vendor"),
                                  ("Staff may leave.", "none")])
    # A sentence trained with another label is the user's correction of it: learnt too.
    assert found == [("Funding may run out in May.", "budget"), ("Staff may leave.", "resource")]
    assert counts == {"lines": 5, "rows": 2, "duplicates": 0, "conflicts": 0, "held_out": 2,
                      "already_trained": 1}


@pytest.mark.parametrize("line, says", [
    ("{not json", "not JSON"),
    (json.dumps(["The budget is short.", "budget"]), 'needs an object with "text"'),
    (json.dumps("The budget is short."), 'needs an object with "text"'),
    (json.dumps({"text": 5, "label": "budget"}), '"text" must be a sentence'),
    (json.dumps({"text": "   ", "label": "budget"}), '"text" must be a sentence'),
    (json.dumps({"label": "budget"}), '"text" must be a sentence'),
    (json.dumps({"text": "x" * (MAX_SENTENCE_CHARS + 1), "label": "budget"}),
     f"over {MAX_SENTENCE_CHARS} characters"),
    (json.dumps({"text": "Late.", "label": "money"}), "unknown label 'money'"),
    (json.dumps({"text": "Late.", "label": ["budget"]}), "unknown label ['budget']"),
    (json.dumps({"text": "Late.", "label": None}), "unknown label None"),
    (json.dumps({"text": "Late.", "label": "budget", "source": 3}), '"source" must be'),
    (json.dumps({"text": "Late.", "label": "budget", "context": "x"}), "unknown field 'context'"),
    (json.dumps({"text": "Late.", "label": "budget", "pad": "x" * MAX_LINE_CHARS}),
     "over 8000"),
    ("[" * 100_000, "over 8000"),  # refused unparsed, not a RecursionError
])
def test_a_malformed_line_is_refused_naming_where(tmp_path, line, says):
    path = tmp_path / "corrections.jsonl"
    path.write_text(json.dumps({"text": "The budget is short.", "label": "budget"}) + "\n\n"
                    + line + "\n", encoding="utf-8")
    with pytest.raises(InvalidCorrectionsError, match="corrections.jsonl:3") as raised:
        read_corrections(path)
    assert says in str(raised.value)


@pytest.mark.parametrize("content", [b"", b"\n \n", b"\xff\xfe not UTF-8\n"])
def test_a_file_without_corrections_is_refused(tmp_path, content):
    path = tmp_path / "corrections.jsonl"
    path.write_bytes(content)
    with pytest.raises(InvalidCorrectionsError, match="corrections.jsonl"):
        read_corrections(path)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """30 sentences a split, every label in each (from the committed splits)."""
    folder = tmp_path_factory.mktemp("tiny-data")
    for name in ("train", "validation", "test"):
        records = read_jsonl(DATA_DIR / f"{name}.jsonl")
        picked = [next(r for r in records if r["label"] == label) for label in LABELS]
        write_jsonl(folder / f"{name}.jsonl",
                    picked + [r for r in records if r not in picked][:30 - len(picked)])
    return folder


def test_corrections_enter_training_weighted_and_read_every_epoch(tiny_data, tmp_path):
    """The trainer's data after ``prepare``: what ``fit`` would read."""
    try:
        from ml.recipe import TrainingConfig
        from ml.train import Trainer
    except ImportError as missing:
        require_or_skip(f"{missing.name} is not installed (requirements-ml.txt)")
    validation = read_jsonl(tiny_data / "validation.jsonl")
    path = write_jsonl(tmp_path / "corrections.jsonl", rows(
        ("Funding may run out in May.", "budget"),
        (validation[3]["text"], validation[3]["label"]),
        ("The supplier has not signed.", "vendor")))
    config = TrainingConfig(data_dir=tiny_data, output_root=tmp_path / "models",
                            version="v", corrections=path, written_share=0.5, max_length=32,
                            calibration_documents=None, test_documents=None)
    trainer = Trainer(config)
    trainer.prepare()

    train = trainer.splits["train"]
    assert train.texts[-2:] == ["Funding may run out in May.", "The supplier has not signed."]
    assert train.labels[-2:] == ["budget", "vendor"] and train.contexts[-2:] == ["", ""]
    assert len(train.texts) == 32 and trainer.corrections.held_out == 1
    # The sets that measure the model are as they were.
    assert [exact_key(t) for t in trainer.splits["validation"].texts] == \
        [exact_key(r["text"]) for r in validation]
    examples = trainer.loader.dataset
    assert [e["sample_weight"] for e in examples[-2:]] == [2.0, 2.0]
    assert {e["sample_weight"] for e in examples[:30]} <= {1.0, config.document_weight}
    # Written sentences are drawn by half an epoch; a correction is read every epoch.
    assert {30, 31} <= set(trainer.loader.batch_sampler.always)


def test_a_hostile_corrections_file_stops_the_command_before_training(tiny_data, tmp_path):
    path = tmp_path / "corrections.jsonl"
    path.write_text('{"text": "Late.", "label": "budget"}\n{"text": "Late.", "label": "money"}\n',
                    encoding="utf-8")
    result = run_module("ml.train", "--data-dir", tiny_data, "--output-root",
                        tmp_path / "models", "--corrections", path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {path}:2: unknown label 'money' (one of {', '.join(LABELS)})")
    assert "Traceback" not in result.stderr and not (tmp_path / "models").exists()
