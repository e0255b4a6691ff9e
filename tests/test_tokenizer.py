"""The service's tokenizer (the ``tokenizers`` library on a folder's tokenizer.json) gives
transformers' ids, on the test model's folder and on the register's encoder, for the text
that trips tokenizers up: accents, emoji, scripts without spaces, words longer than any in
the vocabulary, and pairs cut to a length."""

from __future__ import annotations

import json
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ml.evaluate import read_labelled_jsonl
from service.analysis.embedding import base_encoder_dir
from service.analysis.inputs import encode
from service.analysis.tokenizer import Tokenizer
from service.analysis.transformer import ModelNotFoundError, TransformerAnalyzer

HARD = [
    "Café crème à Zürich: the naïve façade of the Señor's coöperation.",
    "ÀÉÎÕÜ ŁÓDŹ ÆØÅ straße İstanbul ǅ",
    "Risk 🚨🔥: the vendor 👍🏽 may slip 👨‍👩‍👧‍👦 again.",
    "Supercalifragilisticexpialidociousantidisestablishmentarianismfloccinaucinihilipilification.",
    "x" * 3000,  # a word longer than WordPiece reads: one unknown token
    "The vendor is late and " * 150 + "the budget is gone.",
    "日本語のテキスト。次の文！中文句子没有空格。",
    "Ｆｕｌｌｗｉｄｔｈ ｌｅｔｔｅｒｓ and\u200bzero\u200dwidth\u00a0spaces",
    "",
    " \t ",
    "A.",
]


def folders(scan_model_dir) -> list[Path]:
    return [Path(scan_model_dir), base_encoder_dir()]


@pytest.fixture(scope="module")
def sentences(held_out_path) -> list[str]:
    return read_labelled_jsonl(held_out_path)[0][:300] + HARD


@pytest.mark.parametrize("which", ["classifier", "encoder"])
def test_the_same_ids_as_transformers(scan_model_dir, sentences, which) -> None:
    from transformers import AutoTokenizer

    folder = folders(scan_model_dir)[which == "encoder"]
    theirs = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    ours = Tokenizer(folder, theirs.model_input_names)
    pairs = list(zip(sentences, reversed(sentences)))

    assert ours.model_input_names == list(theirs.model_input_names)
    assert (ours.pad_token_id, ours.pad_token_type_id) == \
        (theirs.pad_token_id, theirs.pad_token_type_id)
    for max_length in (8, 64, 128):
        for context in (True, False):
            assert encode(ours, pairs, context=context, max_length=max_length) == \
                encode(theirs, pairs, context=context, max_length=max_length)
    # Uncut, one text at a time, without special tokens, and back to text.
    assert ours(sentences)["input_ids"] == theirs(sentences)["input_ids"]
    assert max(len(ids) for ids in ours(sentences)["input_ids"]) > 600
    for sentence in HARD:
        assert ours(sentence) == {key: theirs(sentence)[key] for key in ours.model_input_names}
        head = theirs(sentence, truncation=True, max_length=12,
                      add_special_tokens=False)["input_ids"]
        assert ours(sentence, truncation=True, max_length=12,
                    add_special_tokens=False)["input_ids"] == head
        assert ours.decode(head) == theirs.decode(head)


def test_threads_cutting_at_different_lengths_get_their_own_answers(scan_model_dir,
                                                                     sentences) -> None:
    """Truncation is a setting of the library's tokenizer, and changing it under another
    thread raised "Already borrowed": each length has its own copy."""
    tokenizer = Tokenizer(scan_model_dir, ["input_ids", "token_type_ids", "attention_mask"])
    lengths = [16, 32, 48, 64, 80, 96, 112, 128] * 4
    expected = [tokenizer(sentences, truncation=True, max_length=n) for n in lengths]
    fresh = Tokenizer(scan_model_dir, ["input_ids", "token_type_ids", "attention_mask"])
    start = threading.Barrier(8, timeout=120)  # a hang guard: a thread lost fails the test

    def encode_at(index):
        if index < 8:
            start.wait()
        return fresh(sentences, truncation=True, max_length=lengths[index])

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(encode_at, range(len(lengths))))

    assert answers == expected


def test_the_analyzer_reads_its_tokenizer_json(scan_model_dir) -> None:
    from transformers import AutoTokenizer

    analyzer = TransformerAnalyzer(scan_model_dir)
    theirs = AutoTokenizer.from_pretrained(scan_model_dir, local_files_only=True)

    assert isinstance(analyzer.tokenizer, Tokenizer)
    assert analyzer._tokenize(HARD) == encode(theirs, HARD, context=analyzer.input_mode.pairs,
                                              max_length=analyzer.max_length)


@pytest.mark.parametrize(("damage", "reason"), [
    ("missing", "tokenizer.json is missing"),
    ("broken", "tokenizer.json is unreadable"),
])
def test_a_folder_without_a_readable_tokenizer_is_a_model_that_does_not_load(
        scan_model_dir, tmp_path, damage, reason) -> None:
    folder = shutil.copytree(scan_model_dir, tmp_path / "model")
    if damage == "missing":
        (folder / "tokenizer.json").unlink()
    else:
        (folder / "tokenizer.json").write_text(json.dumps({"model": "no such thing"}))

    with pytest.raises(ModelNotFoundError, match=reason) as raised:
        TransformerAnalyzer(folder)

    assert str(folder) in raised.value.detail
