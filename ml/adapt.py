"""An encoder adapted to a deployment's own writing, before it is fine-tuned: continued
masked-language-model pretraining on a folder of the deployment's unlabelled documents.

    python -m ml.adapt --archive DIR [--encoder minilm] [--steps 300] [--out FOLDER]
    python -m ml.train --encoder-dir FOLDER --no-set-current ...

The classifier is only as much at home in a writer's words as its encoder is; a deployment
holds many more of its writers' documents than it will ever label. Every txt, md, html, pdf
and docx under ``--archive`` is read as an upload is (service/uploads/extract.py) and cut
into sentences as a scan cuts them; runs of sentences are packed into sequences of
``--max-length`` tokens, 15% of their tokens masked (BERT's recipe), and the encoder trained
to restore them for ``--steps`` steps. The masked-language head is new (a sentence encoder
ships without one) and is dropped afterwards: the folder written holds the encoder and its
tokenizer, as ``--encoder-dir`` expects. A lever to measure over two seeds before a
deployment uses it (docs/model.md), not a step of ``make model``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path

from ml.encoders import ENCODERS, ENCODERS_ROOT, encoder_dir, sha256
from service.analysis.model_folder import (
    ADAPTATION_JSON,
    ONNX,
    SAFETENSORS,
    TOKENIZER_CONFIG_JSON,
    TOKENIZER_JSON,
    ModelFolder,
)
from service.analysis.reading import judged
from service.uploads.extract import DocumentError, extract_text

SUFFIXES = frozenset({".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx"})
#: The encoder folder's files kept beside the adapted weights (its tokenizer, its pooling).
KEPT_FILES = (TOKENIZER_JSON, TOKENIZER_CONFIG_JSON, "vocab.txt", "special_tokens_map.json",
              "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json")


class ArchiveError(ValueError):
    """An archive with nothing to learn from."""


def archive_sentences(archive: Path) -> tuple[list[str], dict]:
    """The sentences of every readable document under ``archive``, in path order, and a
    count of the documents read and skipped (unreadable ones are skipped, not fatal: an
    archive is what a deployment has)."""
    sentences, read, skipped = [], 0, 0
    for path in sorted(p for p in archive.rglob("*") if p.suffix.lower() in SUFFIXES):
        try:
            text = extract_text(path.read_bytes(), path.name).text
        except (DocumentError, OSError):
            skipped += 1
            continue
        read += 1
        sentences += [sentence.text for sentence in judged(text)]
    if not sentences:
        raise ArchiveError(f"{archive} holds no readable document with a sentence")
    return sentences, {"documents": read, "skipped": skipped, "sentences": len(sentences)}


def packed(sentences: list[str], tokenizer, max_length: int) -> list[list[int]]:
    """The sentences' token ids packed into sequences of at most ``max_length`` tokens
    (with [CLS] and [SEP]), each sentence whole unless it alone is longer."""
    room = max_length - 2
    sequences, current = [], []
    for ids in tokenizer(sentences, add_special_tokens=False)["input_ids"]:
        ids = ids[:room]
        if current and len(current) + len(ids) > room:
            sequences.append(current)
            current = []
        current = current + ids
    if current:
        sequences.append(current)
    return [[tokenizer.cls_token_id, *ids, tokenizer.sep_token_id] for ids in sequences]


def masked_lm(source: Path, sentences: list[str], *, steps: int = 300, batch_size: int = 16,
              learning_rate: float = 5e-5, max_length: int = 128, seed: int = 13):
    """The model of ``source`` (an encoder, or a fine-tuned classifier's folder: its encoder
    is taken) with a new masked-language head, trained ``steps`` steps on ``sentences``;
    with the number of sequences and the losses."""
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer, DataCollatorForLanguageModeling

    random.seed(seed)
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    sequences = packed(sentences, tokenizer, max_length)
    model = AutoModelForMaskedLM.from_pretrained(source, local_files_only=True)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    model.train()
    losses = []
    for step in range(steps):
        batch = collator([{"input_ids": ids} for ids in
                          random.sample(sequences, min(batch_size, len(sequences)))])
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        if step % 50 == 0 or step == steps - 1:
            print(f"step {step + 1}/{steps}: loss {loss.item():.3f}", file=sys.stderr)
    return model, len(sequences), losses


def adapt(archive: Path, out: Path, *, encoder: str = "minilm", steps: int = 300,
          batch_size: int = 16, learning_rate: float = 5e-5, max_length: int = 128,
          seed: int = 13) -> dict:
    source = encoder_dir(encoder)
    sentences, counts = archive_sentences(archive)
    model, sequences, losses = masked_lm(source, sentences, steps=steps, batch_size=batch_size,
                                         learning_rate=learning_rate, max_length=max_length,
                                         seed=seed)
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.base_model.save_pretrained(staging)  # the encoder, without the new head
    for name in KEPT_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, staging / name)
    if (source / "1_Pooling").is_dir():
        shutil.copytree(source / "1_Pooling", staging / "1_Pooling")
    report = {"encoder": encoder, "archive": str(archive), **counts,
              "sequences": sequences, "steps": steps, "seed": seed,
              "first_loss": round(losses[0], 4),
              "last_loss": round(sum(losses[-20:]) / len(losses[-20:]), 4)}
    ModelFolder(staging).write_json(ADAPTATION_JSON, report)
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)  # complete or absent, as a model version is
    report["sha256"] = sha256(out / SAFETENSORS)
    return report


def adapted_classifier(model_dir: Path, sentences: list[str], out: Path, **settings) -> Path:
    """A copy of a model version whose encoder was adapted on ``sentences`` (its head and
    calibration kept): what a deployment would fine-tune its corrections from."""
    from transformers import AutoModelForSequenceClassification

    adapted, _, _ = masked_lm(model_dir, sentences, **settings)
    classifier = AutoModelForSequenceClassification.from_pretrained(model_dir,
                                                                    local_files_only=True)
    missing, unexpected = classifier.base_model.load_state_dict(
        adapted.base_model.state_dict(), strict=False)  # an MLM model's encoder has no pooler
    if unexpected or any(not key.startswith("pooler.") for key in missing):
        raise ValueError(f"{model_dir}'s encoder and the adapted one differ: "
                         f"{(unexpected + missing)[:3]}")
    # All but the base's weights (written next) and graph (a candidate writes its own).
    shutil.copytree(model_dir, out, ignore=shutil.ignore_patterns(SAFETENSORS, ONNX))
    classifier.save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.adapt",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--archive", type=Path, required=True,
                        help="a folder of the deployment's documents (searched recursively)")
    parser.add_argument("--encoder", choices=ENCODERS, default="minilm")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, default=None,
                        help="the adapted encoder's folder (default: models_cache/.encoders/"
                             "<encoder>-adapted-<archive name>)")
    args = parser.parse_args(argv)
    if not args.archive.is_dir():
        parser.error(f"--archive {args.archive} is not a folder")
    out = args.out or ENCODERS_ROOT / f"{args.encoder}-adapted-{args.archive.resolve().name}"
    try:
        report = adapt(args.archive, out, encoder=args.encoder, steps=args.steps,
                       batch_size=args.batch_size, learning_rate=args.learning_rate,
                       max_length=args.max_length, seed=args.seed)
    except ArchiveError as error:
        parser.exit(2, f"python -m ml.adapt: {error}\n")
    print(json.dumps({**report, "out": str(out)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
