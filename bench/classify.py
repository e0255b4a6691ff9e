"""Classification throughput, as ratios measured in this one process on one model.

* naive: ``transformers.pipeline("text-classification")`` called once per sentence (the
  torch model, fp32);
* raw: a model's forward pass on pre-tokenized, pre-padded batches, the analyzer's own
  (``plan_batches``: length-sorted, at most the batch size, cut where padding would pass
  1.5×), with no tokenization and no bookkeeping: the limit of a path; for the torch model,
  its ONNX graph (fp32) and the int8 graph;
* the service's TransformerAnalyzer.classify in fp32 in ONNX Runtime (the CPU's default) and
  in torch, in ONNX Runtime's int8 (MODEL_QUANTIZE=int8) and torch's dynamic int8
  (MODEL_RUNTIME=torch MODEL_QUANTIZE=int8);
* the default analyzer on 20-sentence documents one at a time (a scan's share of the work);
* the default analyzer called from 4 threads at once, with the lock around the whole call or
  around tokenization only.

Rounds are interleaved and each figure is the median of its rounds, so that a neighbour's
burst of CPU hits every variant alike. ``agreement`` compares the labels of the other paths
with the torch model's in fp32 on all of ml/data/test.jsonl, with the macro-F1 of each.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from pathlib import Path

# service.analysis first: it sets OMP_WAIT_POLICY before torch loads OpenMP (see there).
from service.analysis.transformer import (  # isort: skip
    TransformerAnalyzer,
    pad_batch,
    plan_batches,
)
import torch  # isort: skip

DATA = Path(__file__).resolve().parent.parent / "ml" / "data" / "test.jsonl"


def sentences(limit: int | None = None) -> list[str]:
    texts = [json.loads(line)["text"] for line in DATA.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    return texts[:limit] if limit else texts


def _raw_batches(analyzer: TransformerAnalyzer, texts: list[str]) -> list[dict]:
    """The batches the analyzer would make of ``texts`` (plan_batches), padded in advance
    (as tensors for a torch model, arrays for ONNX Runtime)."""
    encoded = analyzer.tokenizer(texts, truncation=True, max_length=analyzer.max_length)
    batches = []
    for indices in plan_batches([len(ids) for ids in encoded["input_ids"]],
                                analyzer.batch_size):
        batch = pad_batch(encoded, indices, analyzer.pad_values)
        if analyzer.runtime == "torch":
            batch = {key: torch.from_numpy(rows) for key, rows in batch.items()}
        batches.append(batch)
    return batches


def _raw_forward(model, batches) -> None:
    with torch.inference_mode():
        for batch in batches:
            model(**batch).logits.argmax(-1)


def _rate(count: int, run) -> float:
    started = time.perf_counter()
    run()
    return count / (time.perf_counter() - started)


def _threaded(analyzer: TransformerAnalyzer, documents: list[list[str]], threads: int) -> None:
    queue = list(documents)
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                if not queue:
                    return
                document = queue.pop()
            analyzer.classify(document)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def run(model_dir: str, *, rounds: int = 3, count: int = 256, naive_sentences: int = 64,
        log=print) -> dict:
    from transformers import AutoTokenizer, pipeline

    texts = sentences(count)
    analyzers = {
        "onnx fp32": TransformerAnalyzer(model_dir, device="cpu"),  # the CPU's default
        "torch fp32": TransformerAnalyzer(model_dir, device="cpu", runtime="torch"),
        "onnx int8": TransformerAnalyzer(model_dir, device="cpu", quantize="int8"),
        "torch int8": TransformerAnalyzer(model_dir, device="cpu", runtime="torch",
                                          quantize="int8"),
    }
    default, torch32 = analyzers["onnx fp32"], analyzers["torch fp32"]
    naive = pipeline("text-classification", model=torch32.model, device=torch.device("cpu"),
                     tokenizer=AutoTokenizer.from_pretrained(torch32.model_dir,
                                                             local_files_only=True))
    raw = {name: (analyzers[name].model, _raw_batches(analyzers[name], texts))
           for name in ("torch fp32", "onnx fp32", "onnx int8")}
    documents = [texts[i:i + 20] for i in range(0, len(texts), 20)]
    log(f"classify: the first {len(texts)} sentences of ml/data/test.jsonl, model "
        f"{default.version}, batch {default.batch_size}, max_length {default.max_length}, "
        f"torch threads {torch.get_num_threads()}")

    # Warm up every path once (allocators, oneDNN kernels).
    naive(texts[0])
    for analyzer in analyzers.values():
        analyzer.classify(texts[:64])
    variants = {"naive pipeline, per sentence": lambda: _rate(
        naive_sentences, lambda: [naive(text) for text in texts[:naive_sentences]])}
    for name, (model, batches) in raw.items():
        variants[f"raw batched forward, {name}"] = (
            lambda model=model, batches=batches: _rate(len(texts),
                                                       lambda: _raw_forward(model, batches)))
    for name, analyzer in analyzers.items():
        variants[f"analyzer, {name}"] = (
            lambda analyzer=analyzer: _rate(len(texts), lambda: analyzer.classify(texts)))
    variants["analyzer, onnx fp32, one 20-sentence document at a time"] = lambda: _rate(
        len(texts), lambda: [default.classify(document) for document in documents])
    for serialize in ("call", "tokenizer"):
        def threaded(serialize=serialize):
            default.serialize = serialize
            try:
                return _rate(len(texts), lambda: _threaded(default, documents, 4))
            finally:
                default.serialize = "call"
        variants[f"analyzer, onnx fp32, 4 threads, lock {serialize}"] = threaded

    samples: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(rounds):
        for name, measure in variants.items():
            samples[name].append(measure())
        log(f"  round {round_ + 1}/{rounds}: " + ", ".join(
            f"{name} {values[-1]:.0f}/s" for name, values in samples.items()))
    rates = {name: statistics.median(values) for name, values in samples.items()}
    others = {name: analyzer for name, analyzer in analyzers.items() if name != "torch fp32"}
    return {**rates, "agreement": agreement(torch32, others)}


def agreement(fp32: TransformerAnalyzer, others: dict[str, TransformerAnalyzer]) -> dict:
    """Label agreement with ``fp32`` and macro-F1 of each analyzer on all of
    ml/data/test.jsonl."""
    from ml.evaluate import compute_metrics, read_labelled_jsonl

    texts, gold = read_labelled_jsonl(DATA)
    plain = [label for label, _ in fp32.classify(texts)]
    result = {"sentences": len(texts),
              "fp32": {"macro_f1": compute_metrics(gold, plain)["macro_f1"]}}
    for name, analyzer in others.items():
        labels = [label for label, _ in analyzer.classify(texts)]
        result[name] = {"agreement": sum(a == b for a, b in zip(labels, plain)) / len(texts),
                        "macro_f1": compute_metrics(gold, labels)["macro_f1"]}
    return result
