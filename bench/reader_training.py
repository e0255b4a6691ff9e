"""A scan's time while the reader trains in the background, against its time without:
``python -m bench.reader_training [--model-dir models_cache] [--documents 20] [--rounds 6]``.

Why: the background training (service/serving/reader_training.py) must not cost the people
scanning meanwhile more than half again their time (issue #83's bound: 1.5×). It runs in the
idle scheduling class, so a core runs it only when a scan leaves one idle; this measures
that it does. The training is the service's own command (``python -m ml.reader
--lowest-priority``) in a models root of its own; rounds alternate with it running and
stopped (SIGSTOP/SIGCONT), in one process, so that the machine's other load falls on both
alike. Each round reads the first ``--documents`` test documents through the analyzer the
scan path uses; the median of the running rounds' seconds over the stopped rounds' is the
figure.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

# service.analysis first: it sets OMP_WAIT_POLICY before torch loads OpenMP (see there).
from service.analysis.transformer import TransformerAnalyzer, resolve_model_dir  # isort: skip

from bench.results import record
from service.analysis.model_folder import point
from service.serving import reader_training

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = REPO_ROOT / "ml" / "data" / "documents" / "test.jsonl"
#: A training that outlasts the bench: the encoder the machine has, many epochs.
TRAINING = ["--epochs", "20", "--max-train-examples", "4000"]


def start_training(model: Path, work: Path, encoder: str) -> subprocess.Popen:
    """The service's background training, on a copy of ``model`` as its root's current."""
    root = work / "models"
    shutil.copytree(model, root / model.name)
    point(root, model.name)
    trained = reader_training.command(root, work, "bench-reader", ["--encoder", encoder,
                                                                   *TRAINING])
    return subprocess.Popen(trained, cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=(work / "training.log").open("w"))


def training_steps(work: Path) -> bool:
    """Whether the training has reached its epochs (the encoder loaded, batches running)."""
    try:
        return json.loads((work / reader_training.PROGRESS).read_text()).get(
            "stage") == "training"
    except (OSError, ValueError):
        return False


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.reader_training",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=REPO_ROOT / "models_cache")
    parser.add_argument("--documents", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--encoder", default="mpnet", help="the reader's encoder (mpnet, "
                        "what the service trains; minilm where mpnet is not fetched yet)")
    args = parser.parse_args(argv)
    model = resolve_model_dir(args.model_dir)
    lines = DOCUMENTS.read_text(encoding="utf-8").splitlines()[:args.documents]
    texts = [json.loads(line)["text"] for line in lines]
    analyzer = TransformerAnalyzer(model)
    analyzer.analyze(texts[0])  # warm

    with tempfile.TemporaryDirectory(prefix="bench-reader-training-") as folder:
        work = Path(folder)
        training = start_training(model, work, args.encoder)
        try:
            while not training_steps(work):  # the figure is of its epochs, not its start
                if training.poll() is not None:
                    raise SystemExit("the training ended before it trained: "
                                     + (work / "training.log").read_text()[-800:])
                time.sleep(0.5)
            seconds: dict[str, list[float]] = {"alone": [], "training": []}
            for round_ in range(args.rounds):
                for state in (("alone", "training") if round_ % 2 == 0 else
                              ("training", "alone")):
                    training.send_signal(signal.SIGSTOP if state == "alone" else signal.SIGCONT)
                    time.sleep(1.0)  # the other state's threads leave the cores
                    began = time.perf_counter()
                    for text in texts:
                        analyzer.analyze(text)
                    seconds[state].append(time.perf_counter() - began)
        finally:
            training.send_signal(signal.SIGCONT)
            training.terminate()
            training.wait()
    ratios = [b / a for a, b in zip(seconds["alone"], seconds["training"], strict=True)]
    figures = {"model": model.name, "documents": len(texts), "encoder": args.encoder,
               "training_over_alone": round(statistics.median(ratios), 3),
               "rounds": [round(ratio, 3) for ratio in ratios],
               "seconds_alone": round(statistics.median(seconds["alone"]), 3),
               "seconds_training": round(statistics.median(seconds["training"]), 3),
               "bound": 1.5}
    print(f"a scan takes {figures['training_over_alone']}× its time while the reader trains "
          f"in the background (median of {args.rounds} rounds: "
          f"{', '.join(map(str, figures['rounds']))}; bound 1.5×)")
    record("reader_training", figures)
    return figures


if __name__ == "__main__":
    main()
