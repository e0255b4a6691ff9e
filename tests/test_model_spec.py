"""What a model is fed is one typed value (service/analysis/model_spec.py): the
folder and the recipe yield the same spec, the service and training encode through it, a
retired mode is refused by name before any weight loads, and no other module compares a
mode by its name (issue #78)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from service.analysis.model_folder import CONFIG_JSON, TRAINING_JSON, ModelFolder
from service.analysis.model_spec import (
    DEFAULT_MAX_LENGTH,
    IN_CONTEXT,
    INPUT_MODES,
    SENTENCE,
    ModelSpec,
    UnknownInputMode,
    input_mode_named,
)
from service.analysis.reading import judged

REPO_ROOT = Path(__file__).resolve().parent.parent
REPORT = """# Weekly status

## Risks

The vendor may slip the delivery of the servers by a month.
Nobody has been hired to replace the two developers who leave in May.
"""


@pytest.mark.parametrize("mode", list(INPUT_MODES.values()), ids=list(INPUT_MODES))
def test_a_spec_reads_back_as_it_was_written(mode):
    spec = ModelSpec(mode, 96)
    assert ModelSpec.from_training(json.loads(json.dumps(spec.to_training()))) == spec
    assert ModelSpec.from_training(spec.to_training()).input_mode is mode


@pytest.mark.parametrize(("recorded", "mode", "max_length"), [
    ({}, SENTENCE, DEFAULT_MAX_LENGTH),  # a folder from before models read context
    ({"context": True, "max_length": 64}, IN_CONTEXT, 64),  # before "reads" was written
    ({"context": False}, SENTENCE, DEFAULT_MAX_LENGTH),
])
def test_older_records_read_as_they_were_trained(recorded, mode, max_length):
    assert ModelSpec.from_training(recorded) == ModelSpec(mode, max_length)


@pytest.mark.parametrize("recorded", [
    {"reads": "window"}, {"reads": "paragraph"}, {"reads": 3}, {"reads": ["context"]},
    {"reads": "context", "max_length": 0}, {"reads": "context", "max_length": "long"},
])
def test_a_wrong_or_retired_record_is_refused_never_misread(recorded):
    with pytest.raises(ValueError):
        ModelSpec.from_training(recorded)


def test_the_retired_window_mode_is_named_as_retired():
    with pytest.raises(UnknownInputMode, match="retired"):
        input_mode_named("window")


def test_a_window_models_folder_is_refused_by_name_before_its_weights(tmp_path,
                                                                      trained_model_dir):
    """The folder holds no weights at all: the refusal comes from its record alone."""
    from service.analysis.transformer import ModelNotFoundError, TransformerAnalyzer

    folder = tmp_path / "window-model"
    folder.mkdir()
    for name in (CONFIG_JSON, TRAINING_JSON):
        shutil.copyfile(Path(trained_model_dir) / name, folder / name)
    record = json.loads((folder / TRAINING_JSON).read_text())
    (folder / TRAINING_JSON).write_text(json.dumps({**record, "reads": "window"}))
    with pytest.raises(ModelNotFoundError, match="window models were retired"):
        TransformerAnalyzer(folder)


def test_the_folder_records_the_spec_its_recipe_trained_with(trained_model_dir,
                                                              trained_analyzer):
    from tests.fixtures_model import TEST_TRAINING

    recorded = ModelFolder(trained_model_dir).spec()
    assert recorded.input_mode is (IN_CONTEXT if TEST_TRAINING.get("context", True)
                                else SENTENCE)
    assert recorded.max_length == TEST_TRAINING["max_length"]
    assert trained_analyzer.spec == recorded


def test_training_rows_and_a_scanned_document_encode_alike(trained_analyzer):
    """A labelled row (sentence, heading and previous sentence as ml.train reads it) is
    encoded by the spec exactly as the service encodes that sentence in its document."""
    from service.analysis.context import context_text

    spec = trained_analyzer.spec
    sentences = judged(REPORT)
    rows = spec.input_mode.inputs([s.text for s in sentences],
                               [context_text(s.heading, s.previous) for s in sentences])
    trained = spec.input_mode.encode(trained_analyzer.tokenizer, rows, spec.max_length)
    served = trained_analyzer._tokenize(sentences)
    assert trained["input_ids"] == served["input_ids"]
    if spec.input_mode.pairs:  # the heading is what the second segment holds
        assert "risks" in trained_analyzer.tokenizer.decode(trained["input_ids"][0]).lower()


def test_a_sentence_model_reads_a_pair_as_its_sentence_alone():
    assert SENTENCE.input(("The vendor may slip.", "Risks")) == "The vendor may slip."
    assert IN_CONTEXT.input("The vendor may slip.") == ("The vendor may slip.", "")
    sentence = judged(REPORT)[0]
    assert IN_CONTEXT.input(sentence) == (sentence.text, sentence.context)


_COMPARED = re.compile(r"""(\breads?\b|\binput_mode\b|\.name\b)[^\n]{0,20}[!=]=\s*"""
                       r"""["'](sentence|context|window)["']"""
                       r"""|["'](sentence|context|window)["']\s*[!=]=\s*[\w.]*(reads|input_mode)""")


def test_no_module_but_the_specs_compares_an_input_mode_by_its_name():
    offenders = []
    for package in ("service", "ml", "bench", "reliability"):
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            if path.name == "model_spec.py":
                continue
            text = path.read_text(encoding="utf-8")
            relative = path.relative_to(REPO_ROOT)
            offenders += [f"{relative}: {match.group(0)}" for match in _COMPARED.finditer(text)]
            if re.search(r"""["']reads["']""", text):
                offenders.append(f"{relative}: names the record's \"reads\" field")
    assert not offenders, offenders
