"""Classification throughput, as ratios measured in this one process on one model.

* naive: ``transformers.pipeline("text-classification")`` called once per sentence;
* raw: the model's forward pass on pre-tokenized, length-sorted, pre-padded batches of the
  analyzer's batch size (no tokenization, no bookkeeping: the limit);
* the service's TransformerAnalyzer.classify in fp32 and with MODEL_QUANTIZE=int8 (and the
  raw forward of the int8 model, the limit of that path);
* classify from 4 threads at once, with the lock around the whole call or around
  tokenization only.

Rounds are interleaved and each figure is the median of its rounds, so that a neighbour's
burst of CPU hits every variant alike.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from pathlib import Path

import torch

from service.analysis.transformer import TransformerAnalyzer

DATA = Path(__file__).resolve().parent.parent / "ml" / "data" / "test.jsonl"


def sentences(limit: int | None = None) -> list[str]:
    texts = [json.loads(line)["text"] for line in DATA.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    return texts[:limit] if limit else texts


def _raw_batches(analyzer: TransformerAnalyzer, texts: list[str]) -> list[dict]:
    encoded = analyzer.tokenizer(texts, truncation=True, max_length=analyzer.max_length)
    order = sorted(range(len(texts)), key=lambda i: len(encoded["input_ids"][i]), reverse=True)
    batches = []
    for start in range(0, len(order), analyzer.batch_size):
        indices = order[start:start + analyzer.batch_size]
        batches.append(dict(analyzer.tokenizer.pad(
            {key: [encoded[key][i] for i in indices] for key in encoded}, return_tensors="pt")))
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
    from transformers import pipeline

    texts = sentences(count)
    fp32 = TransformerAnalyzer(model_dir, device="cpu")
    int8 = TransformerAnalyzer(model_dir, device="cpu", quantize="int8")
    naive = pipeline("text-classification", model=fp32.model, tokenizer=fp32.tokenizer,
                     device=torch.device("cpu"))
    raw32, raw8 = _raw_batches(fp32, texts), _raw_batches(int8, texts)
    documents = [texts[i:i + 20] for i in range(0, len(texts), 20)]
    log(f"classify: the first {len(texts)} sentences of ml/data/test.jsonl, model {fp32.version}, "
        f"batch {fp32.batch_size}, max_length {fp32.max_length}, torch threads "
        f"{torch.get_num_threads()}")

    # Warm up every path once (allocators, oneDNN kernels).
    naive(texts[:8][0]), fp32.classify(texts[:64]), int8.classify(texts[:64])
    variants = {
        "naive pipeline, per sentence": lambda: _rate(
            naive_sentences, lambda: [naive(text) for text in texts[:naive_sentences]]),
        "raw batched forward fp32": lambda: _rate(len(texts), lambda: _raw_forward(fp32.model,
                                                                                   raw32)),
        "analyzer fp32": lambda: _rate(len(texts), lambda: fp32.classify(texts)),
        "raw batched forward int8": lambda: _rate(len(texts), lambda: _raw_forward(int8.model,
                                                                                   raw8)),
        "analyzer int8": lambda: _rate(len(texts), lambda: int8.classify(texts)),
    }
    for serialize in ("call", "tokenizer"):
        def threaded(serialize=serialize):
            fp32._serialize = serialize
            try:
                return _rate(len(texts), lambda: _threaded(fp32, documents, 4))
            finally:
                fp32._serialize = "call"
        variants[f"analyzer fp32, 4 threads, lock {serialize}"] = threaded

    samples: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(rounds):
        for name, measure in variants.items():
            samples[name].append(measure())
        log(f"  round {round_ + 1}/{rounds}: " + ", ".join(
            f"{name} {values[-1]:.0f}/s" for name, values in samples.items()))
    return {name: statistics.median(values) for name, values in samples.items()}
