"""Classification throughput, as ratios measured in this one process on one model.

* naive: ``transformers.pipeline("text-classification")`` called once per sentence;
* raw: the model's forward pass on pre-tokenized, length-sorted, pre-padded batches of the
  analyzer's batch size (no tokenization, no bookkeeping: the limit);
* the service's TransformerAnalyzer.classify in fp32, with MODEL_QUANTIZE=onnx-int8 (ONNX
  Runtime, int8 after the first layers; and the raw forward of that model, the limit of that
  path) and with MODEL_QUANTIZE=int8 (torch's dynamic int8 of every Linear layer);
* classify from 4 threads at once, with the lock around the whole call or around
  tokenization only.

Rounds are interleaved and each figure is the median of its rounds, so that a neighbour's
burst of CPU hits every variant alike. ``agreement`` compares the labels of both int8 paths
with fp32's on all of ml/data/test.jsonl, with the macro-F1 of each.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from pathlib import Path

# service.analysis first: it sets OMP_WAIT_POLICY before torch loads OpenMP (see there).
from service.analysis.transformer import TransformerAnalyzer  # isort: skip
import torch  # isort: skip

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
    onnx8 = TransformerAnalyzer(model_dir, device="cpu", quantize="onnx-int8")
    int8 = TransformerAnalyzer(model_dir, device="cpu", quantize="int8")
    naive = pipeline("text-classification", model=fp32.model, tokenizer=fp32.tokenizer,
                     device=torch.device("cpu"))
    raw32, raw_onnx8 = _raw_batches(fp32, texts), _raw_batches(onnx8, texts)
    documents = [texts[i:i + 20] for i in range(0, len(texts), 20)]
    log(f"classify: the first {len(texts)} sentences of ml/data/test.jsonl, model {fp32.version}, "
        f"batch {fp32.batch_size}, max_length {fp32.max_length}, torch threads "
        f"{torch.get_num_threads()}")

    # Warm up every path once (allocators, oneDNN kernels).
    naive(texts[:8][0]), fp32.classify(texts[:64]), onnx8.classify(texts[:64])
    int8.classify(texts[:64])
    variants = {
        "naive pipeline, per sentence": lambda: _rate(
            naive_sentences, lambda: [naive(text) for text in texts[:naive_sentences]]),
        "raw batched forward fp32": lambda: _rate(len(texts), lambda: _raw_forward(fp32.model,
                                                                                   raw32)),
        "analyzer fp32": lambda: _rate(len(texts), lambda: fp32.classify(texts)),
        "raw batched forward onnx-int8": lambda: _rate(
            len(texts), lambda: _raw_forward(onnx8.model, raw_onnx8)),
        "analyzer onnx-int8": lambda: _rate(len(texts), lambda: onnx8.classify(texts)),
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
    rates = {name: statistics.median(values) for name, values in samples.items()}
    return {**rates, "agreement": agreement(fp32, {"onnx-int8": onnx8, "int8": int8})}


def agreement(fp32: TransformerAnalyzer, others: dict[str, TransformerAnalyzer]) -> dict:
    """Label agreement with fp32 and macro-F1 of each analyzer on all of ml/data/test.jsonl."""
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
