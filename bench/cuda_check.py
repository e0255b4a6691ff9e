"""The GPU path, checked on a lent GPU machine: a model's scans on CUDA in fp16 against the
CPU, its speed from a cold start, and hostile documents.

The lent machines have torch but neither spaCy nor room to carry a model in fp32, so the
check runs in two steps (docs/deploying.md, "The GPU path, measured"):

  python -m bench.cuda_check --prepare MODEL_DIR   # here: .gpu/ with the model in fp16
                                                   # (xz), the new writers' reports split
                                                   # into sentences and the CPU's findings
  python3 -m bench.cuda_check                      # there, with .gpu/ carried

There the analysis code is imported without the Flask app (``service/__init__`` imports
it), and each document's sentences are the ones split here: everything from the model's
inputs to the findings is the service's own code.
"""
from __future__ import annotations

import gzip
import json
import lzma
import os
import shutil
import sys
import time
import types
from pathlib import Path

from service.analysis.model_folder import (
    CALIBRATION_JSON,
    CONFIG_JSON,
    LABELS_JSON,
    SAFETENSORS,
    TOKENIZER_CONFIG_JSON,
    TOKENIZER_JSON,
    TRAINING_JSON,
)

ROOT = Path(__file__).resolve().parent.parent
PREPARED = ROOT / ".gpu"
DOCUMENTS = ROOT / "ml" / "data" / "documents" / "new-writers.jsonl"
FILES = (CONFIG_JSON, LABELS_JSON, TOKENIZER_JSON, TOKENIZER_CONFIG_JSON, TRAINING_JSON,
         CALIBRATION_JSON)
HOSTILE = {"20k-sentence": "the vendor may slip " * 1000, "5k-lines": "\n".join(["risk"] * 5000),
           "one-heading": "## Risks\n\n" * 2000}


def prepare(model_dir: Path) -> None:
    from safetensors.torch import load_file, save_file

    from service.analysis.segment import split_sentences
    from service.analysis.transformer import TransformerAnalyzer

    folder = PREPARED / "model"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name in FILES:
        if (model_dir / name).exists():
            shutil.copy(model_dir / name, folder / name)
    weights = {k: v.half().contiguous()
               for k, v in load_file(model_dir / SAFETENSORS).items()}
    save_file(weights, folder / SAFETENSORS, metadata={"format": "pt"})
    with open(folder / SAFETENSORS, "rb") as src, \
            lzma.open(folder / f"{SAFETENSORS}.xz", "wb", preset=6) as dst:
        shutil.copyfileobj(src, dst)
    (folder / SAFETENSORS).unlink()
    cpu = TransformerAnalyzer(model_dir, device="cpu", runtime="onnx")
    rows = []
    for line in DOCUMENTS.read_text(encoding="utf-8").splitlines():
        text = json.loads(line)["text"]
        rows.append({"text": text, "cpu": _found(cpu, text),
                     "sentences": [[s.start, s.end, s.text] for s in split_sentences(text)]})
    for name, text in HOSTILE.items():
        rows.append({"id": name, "text": text, "cpu": None,
                     "sentences": [[s.start, s.end, s.text] for s in split_sentences(text)]})
    with gzip.open(PREPARED / "documents.json.gz", "wt", encoding="utf-8") as out:
        json.dump(rows, out)


def _found(analyzer, text: str) -> list:
    return [[f.start, f.end, f.category, round(f.score, 4)] for f in analyzer.analyze(text).findings]


def _agreement(first: list, second: list) -> dict:
    """Findings in both (same span and category) over findings in either, and the largest
    score difference among the shared ones."""
    same = union = 0
    diff = 0.0
    for a, b in zip(first, second):
        scores = {(s, e, c): v for s, e, c, v in a}
        others = {(s, e, c): v for s, e, c, v in b}
        same += len(scores.keys() & others.keys())
        union += len(scores.keys() | others.keys())
        diff = max([diff] + [abs(scores[k] - others[k]) for k in scores.keys() & others.keys()])
    return {"same": same, "either": union, "agreement": round(same / max(union, 1), 4),
            "max_score_diff": round(diff, 4)}


def check(device: str) -> dict:
    package = types.ModuleType("service")  # the analysis layer without the Flask app
    package.__path__ = [str(ROOT / "service")]
    sys.modules["service"] = package
    import torch

    from service.analysis import reading
    from service.analysis.segment import Sentence
    from service.analysis.transformer import TransformerAnalyzer

    work = Path("/tmp/cuda_check")
    shutil.rmtree(work, ignore_errors=True)
    model = work / "model"
    shutil.copytree(PREPARED / "model", model)
    with lzma.open(model / f"{SAFETENSORS}.xz") as src, \
            open(model / SAFETENSORS, "wb") as dst:
        shutil.copyfileobj(src, dst)
    (model / f"{SAFETENSORS}.xz").unlink()
    with gzip.open(PREPARED / "documents.json.gz", "rt", encoding="utf-8") as source:
        rows = json.load(source)
    splits = {row["text"]: [Sentence(*s) for s in row["sentences"]] for row in rows}
    reading.split_sentences = splits.__getitem__
    documents = [row for row in rows if row["cpu"] is not None]

    def scan_all(analyzer) -> tuple[list, float]:
        _found(analyzer, documents[0]["text"])  # the first call's one-off costs
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        found = [_found(analyzer, row["text"]) for row in documents]
        if device == "cuda":
            torch.cuda.synchronize()
        return found, time.perf_counter() - start

    gpu = TransformerAnalyzer(model, device=device, runtime="torch")
    cpu = TransformerAnalyzer(model, device="cpu", runtime="torch")
    cpu.model = cpu.model.float()
    on_gpu, seconds = scan_all(gpu)
    on_cpu, _ = scan_all(cpu)
    report = {"torch": torch.__version__, "cuda": torch.version.cuda,
              "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
              "input_mode": gpu.input_mode.name, "dtype": str(next(gpu.model.parameters()).dtype),
              "documents": len(documents), "documents_per_s": round(len(documents) / seconds, 1),
              "vs_cpu_onnx_fp32": _agreement([row["cpu"] for row in documents], on_gpu),
              "vs_cpu_torch_fp32_here": _agreement(on_cpu, on_gpu), "hostile": {}}
    for row in rows:
        if row["cpu"] is None:
            start = time.perf_counter()
            findings = _found(gpu, row["text"])
            report["hostile"][row["id"]] = {"findings": len(findings),
                                            "seconds": round(time.perf_counter() - start, 3)}
    return report


if __name__ == "__main__":
    if sys.argv[1:2] == ["--prepare"]:
        prepare(Path(sys.argv[2]))
    else:
        result = check(os.environ.get("CHECK_DEVICE", "cuda"))
        print(json.dumps(result, indent=1))
        if os.environ.get("OUT"):
            Path(os.environ["OUT"], "cuda_check.json").write_text(json.dumps(result, indent=1))
