"""``make bench`` (``python -m bench``): the throughput figures, as ratios measured in one run.

1. sentences/s of the analyzer against the per-sentence pipeline and the raw batched
   forward (bench/classify.py); 2. POST /api/v1/scans over HTTP at 1, 4 and 8 clients, with
   and without dynamic batching; 3. GET /api/v1/scans against a bare Flask app; 4. resident
   memory and seconds to /ready (bench/http.py); 5. split_sentences and the LLM path's text
   handling on 160k against 20k characters of hostile and ordinary text (bench/text_scaling.py,
   linear: 8×). Prints a Markdown table and writes the raw
   figures to bench/results.json. MODEL_DIR names the model (default models_cache).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--model-dir", default=os.environ.get("MODEL_DIR") or "models_cache")
    parser.add_argument("--seconds", type=float, default=10, help="per HTTP load level and round")
    parser.add_argument("--rounds", type=int, default=2, help="HTTP rounds")
    parser.add_argument("--classify-rounds", type=int, default=5,
                        help="in-process rounds (each figure is their median)")
    parser.add_argument("--sentences", type=int, default=256, help="classified per measurement")
    parser.add_argument("--output", default="bench/results.json")
    args = parser.parse_args()

    from bench import classify, http, text_scaling
    from service.analysis.transformer import resolve_model_dir

    model_dir = str(resolve_model_dir(args.model_dir).resolve())
    started = time.time()
    rates = classify.run(model_dir, rounds=args.classify_rounds, count=args.sentences, log=log)
    web = http.run(model_dir, classify.sentences(), seconds=args.seconds, rounds=args.rounds,
                   log=log)
    log("text scaling: split_sentences and the LLM text handling, 20k to 160k characters")
    texts = text_scaling.run(log=log)
    machine = {"nproc": os.cpu_count(), "cpu": cpu_model(),
               "date": subprocess.run(["date"], check=False, capture_output=True, text=True).stdout.strip(),
               "model": Path(model_dir).name, "seconds": round(time.time() - started)}
    Path(args.output).write_text(json.dumps({"machine": machine, "classify": rates,
                                             "http": web, "text_scaling": texts},
                                            indent=2) + "\n")

    naive = rates["naive pipeline, per sentence"]
    raw = {name: rates[f"raw batched forward, {name}"]
           for name in ("torch fp32", "onnx fp32", "onnx int8")}
    ours = {name: rates[f"analyzer, {name}"]
            for name in ("onnx fp32", "torch fp32", "onnx int8", "torch int8")}
    agreed = rates["agreement"]
    call, tok = (rates["analyzer, onnx fp32, 4 threads, lock call"],
                 rates["analyzer, onnx fp32, 4 threads, lock tokenizer"])
    scans = web["scans"]

    def versus(what: str, mine: float, theirs: float, target: str = ""):
        return (what, f"{mine:.0f} vs {theirs:.0f} sent/s", target, mine / theirs)

    rows = [
        versus("analyzer fp32 (ONNX Runtime, the CPU default) vs raw batched forward, torch",
               ours["onnx fp32"], raw["torch fp32"], "≥ 0.9×"),
        versus("analyzer fp32 (ONNX Runtime) vs raw batched forward of its own graph",
               ours["onnx fp32"], raw["onnx fp32"], "≥ 0.9×"),
        versus("analyzer fp32 (ONNX Runtime) vs per-sentence pipeline", ours["onnx fp32"],
               naive, "≥ 3.5×"),
        versus("analyzer fp32 in torch (MODEL_RUNTIME=torch) vs raw batched forward, torch",
               ours["torch fp32"], raw["torch fp32"], "≥ 0.9×"),
        versus("analyzer fp32 in torch vs per-sentence pipeline", ours["torch fp32"], naive),
        versus("analyzer int8 (ONNX Runtime) vs per-sentence pipeline", ours["onnx int8"],
               naive, "≥ 5×"),
        versus("analyzer int8 (ONNX Runtime) vs analyzer fp32 (ONNX Runtime)",
               ours["onnx int8"], ours["onnx fp32"], "> 1×"),
        versus("analyzer int8 (ONNX Runtime) vs raw batched forward of its own graph",
               ours["onnx int8"], raw["onnx int8"]),
        versus("analyzer int8 (torch) vs analyzer fp32 (torch)", ours["torch int8"],
               ours["torch fp32"]),
        versus("analyzer fp32 (ONNX Runtime), one 20-sentence document at a time, vs all "
               "at once", rates["analyzer, onnx fp32, one 20-sentence document at a time"],
               ours["onnx fp32"]),
        versus("4 threads: lock around tokenization vs whole classify", tok, call),
    ]
    for name, target in (("onnx fp32", "= torch's"), ("onnx int8", "≥ 99%, F1 ± 1 point"),
                         ("torch int8", "")):
        rows.append((
            (f"{name} labels = torch fp32 labels, ml/data/test.jsonl "
             f"({agreed['sentences']} sentences)"),
            (f"{agreed[name]['agreement'] * 100:.1f}%, macro-F1 {agreed[name]['macro_f1']:.4f} "
             f"vs {agreed['fp32']['macro_f1']:.4f} "
             f"({(agreed[name]['macro_f1'] - agreed['fp32']['macro_f1']) * 100:+.2f} points)"),
            target, None))
    for level in (1, 4, 8):
        plain, dynamic = scans[f"per-request@{level}"], scans[f"dynamic@{level}"]
        rows.append((
            f"POST /api/v1/scans, {level} client{'s' if level > 1 else ''}, per-request batching",
            (f"{plain['scans_per_s']:.2f} scans/s, {plain['sentences_per_s']:.0f} sent/s, "
            f"p50/p95/p99 {plain['p50_s'] * 1000:.0f}/{plain['p95_s'] * 1000:.0f}/"
            f"{plain['p99_s'] * 1000:.0f} ms ({plain['requests']} scans)"), "", None))
        rows.append((
            f"POST /api/v1/scans, {level} client{'s' if level > 1 else ''}, dynamic batching",
            (f"{dynamic['scans_per_s']:.2f} scans/s, {dynamic['sentences_per_s']:.0f} sent/s, "
            f"p50/p95/p99 {dynamic['p50_s'] * 1000:.0f}/{dynamic['p95_s'] * 1000:.0f}/"
            f"{dynamic['p99_s'] * 1000:.0f} ms ({dynamic['requests']} scans)"),
            "> 1× at 8 clients" if level == 8 else "",
            dynamic["scans_per_s"] / plain["scans_per_s"]))
    rows.append(("dynamic vs per-request p99, 1 client",
                 (f"{scans['dynamic@1']['p99_s'] * 1000:.0f} vs "
                 f"{scans['per-request@1']['p99_s'] * 1000:.0f} ms"), "≤ 1×",
                 scans["dynamic@1"]["p99_s"] / scans["per-request@1"]["p99_s"]))
    listed = web["list_rps"]
    rows.append(("GET /api/v1/scans (authenticated) vs bare Flask app",
                 f"{listed['service']:.0f} vs {listed['bare']:.0f} req/s", "≥ 0.5×",
                 listed["service"] / listed["bare"]))
    memory = web["memory_mb"]["per-request"]
    rows.append(("resident memory, model loaded, after the load (VmRSS / peak VmHWM)",
                 f"{memory['VmRSS']:.0f} / {memory['VmHWM']:.0f} MB", "≤ 700 MB",
                 memory["VmHWM"] / 700))
    ready = max(web["ready_s"].values())
    rows.append(("seconds from start to /ready (slowest of 2 starts)", f"{ready:.1f} s",
                 "≤ 10 s", ready / 10))

    small, large = text_scaling.SIZES[0], text_scaling.SIZES[-1]
    for kind, by_size in texts.items():
        split0, split1 = by_size[small]["split_s"], by_size[large]["split_s"]
        rows.append((f"split_sentences, {kind}, {large // 1000}k vs {small // 1000}k characters",
                     (f"{split1 * 1000:.1f} vs {split0 * 1000:.1f} ms (LLM text handling "
                      f"{by_size[large]['llm_s'] * 1000:.2f} vs "
                      f"{by_size[small]['llm_s'] * 1000:.2f} ms)"),
                     f"≈ {large // small}× (linear)", split1 / split0))

    print(f"Measured {machine['date']} on {machine['nproc']} × {machine['cpu']}, model "
          f"{machine['model']}, {web['sentences_per_scan']:.0f} sentences per scan, "
          f"in {machine['seconds']} s.\n")
    print("| what | measured | target | ratio |\n|---|---|---|---|")
    for what, measured, target, ratio in rows:
        print(f"| {what} | {measured} | {target} | {'' if ratio is None else f'{ratio:.2f}×'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
