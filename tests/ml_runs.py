"""Running ml/'s modules as a data scientist does (`python -m ml.<module>`, in a subprocess),
and the JSON lines files they read and write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


DATA_DIR = REPO_ROOT / "ml" / "data"


def run_module(module: str, *args: str | Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=REPO_ROOT,
                          capture_output=True, text=True, env=env, timeout=600, check=False)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def first_documents(name: str, count: int, folder: Path) -> tuple[list[dict], Path]:
    """The first ``count`` documents of ``ml/data/documents/<name>.jsonl``, and a file of
    the same name in ``folder`` that holds them alone: enough to go through calibration or
    evaluation without the time of the whole set."""
    documents = read_jsonl(DATA_DIR / "documents" / f"{name}.jsonl")[:count]
    return documents, write_jsonl(folder / f"{name}.jsonl", documents)
