"""``python -m bench.memory``: the service's resident memory, the fast model alone and with a
reader behind it.

Each runs as ``python -m service`` (bench/http.py's Server, on loopback); VmRSS is read once
/ready answers (loaded and warmed up: the register's encoder included) and again after a
warm-up scan of a 40-sentence report into a project (its findings go to the register), with
the peak (VmHWM), and whether torch's library was ever mapped into the process. Without
``--reader-dir`` the reader is the fast model read twice (as tests/test_cascade.py has it):
the cascade's mechanism, not mpnet's weights; ``make reader`` trains the real one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import requests

from bench.classify import sentences
from bench.http import memory_mb, service, token

SCREEN = 0.1  # the stand-in reader reads every sentence the fast model gives 0.1 or more


def torch_mapped(pid: int) -> bool:
    """Whether torch's C++ library is mapped into the process (it stays once loaded)."""
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


def stand_in_reader(model_dir: Path, into: Path) -> Path:
    """A copy of the fast model as a reader folder, with the screen.json a reader has."""
    from service.analysis.model_folder import SCREEN_JSON

    into.mkdir(parents=True)
    for source in model_dir.iterdir():
        if source.is_file() and source.name != SCREEN_JSON:
            shutil.copy(source, into / source.name)
    (into / SCREEN_JSON).write_text(json.dumps({"screen": SCREEN}))
    return into


def measure(model_dir: Path, workdir: Path, report: str, **settings) -> dict:
    server = service(str(model_dir), workdir, **settings)
    try:
        pid = server.process.pid
        started = memory_mb(pid)
        bearer = {"Authorization": f"Bearer {token(server.url, 'memory@example.com')}"}
        project = requests.post(f"{server.url}/api/v1/projects", json={"name": "memory"},
                                headers=bearer, timeout=30)
        project.raise_for_status()
        scanned = requests.post(f"{server.url}/api/v1/scans", headers=bearer, timeout=300,
                                json={"text": report, "project_id": project.json()["id"]})
        scanned.raise_for_status()
        return {"ready_s": round(server.ready_s, 1), "after_start_mb": started["VmRSS"],
                "after_scan_mb": memory_mb(pid)["VmRSS"], "peak_mb": memory_mb(pid)["VmHWM"],
                "model_version": scanned.json()["model_version"],
                "findings": len(scanned.json()["data"]), "torch_loaded": torch_mapped(pid)}
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=Path("models_cache"))
    parser.add_argument("--reader-dir", type=Path,
                        help="a reader folder (default: the fast model as a stand-in)")
    parser.add_argument("--reader-quantize", default="auto", choices=("auto", "int8", "none"))
    args = parser.parse_args(argv)
    from service.analysis.embedding import SentenceEncoder
    from service.analysis.transformer import resolve_model_dir

    model_dir = resolve_model_dir(args.model_dir).resolve()
    SentenceEncoder()  # its graph is made on a first start only (with torch), then kept
    report = "# Status report\n\n" + "\n".join(sentences(40)) + "\n"
    with tempfile.TemporaryDirectory(prefix="riskscan-memory-") as tmp:
        reader = args.reader_dir or stand_in_reader(model_dir, Path(tmp) / "stand-in-reader")
        results = {
            "fast model alone": measure(model_dir, Path(tmp) / "fast", report,
                                        READER_DIR="off"),
            f"with a reader ({reader.name}, {args.reader_quantize})": measure(
                model_dir, Path(tmp) / "cascade", report, READER_DIR=str(reader),
                READER_QUANTIZE=args.reader_quantize),
        }
    print("| service | after start (MB) | after a warm-up scan (MB) | peak (MB) | torch |")
    print("|---|---|---|---|---|")
    for name, figures in results.items():
        print(f"| {name} | {figures['after_start_mb']:.0f} | {figures['after_scan_mb']:.0f} | "
              f"{figures['peak_mb']:.0f} | {'loaded' if figures['torch_loaded'] else 'no'} |")
    print(json.dumps(results, indent=2), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
