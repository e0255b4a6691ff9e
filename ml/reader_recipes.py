"""Reader recipes trained side by side on a lent GPU, measured here as the service serves them.

    python -m ml.reader_recipes prepare                  # here: .gpu/readers/ (the encoder and
                                                         # the documents' inputs, in pieces)
    python3 -m ml.reader_recipes train [RECIPE ...]      # there: each recipe's logits on them
    python -m ml.reader_recipes measure LOGITS.npz --fast models_cache/<fast> [--json F]

A reader is all-mpnet-base-v2 fine-tuned (ml.reader): 2 to 6 hours a seed on 2 cores, 90 s on
a GPU; but a lent machine takes 64 MiB a call and gives back as much, and a reader is 438 MB.
So the weights never come back: there each recipe is trained with ml.train's own Trainer
and scores every sentence the evaluation documents hold (dev, test, new writers), read as its
model reads it; here those logits stand in for the classifier (``Recorded``), and the rest
is the service's and ml's own code: calibration on the development documents
(ml.calibrate), the screen behind the fast model (ml.cascade), the cascade
(service/analysis/cascade_model.py) and the scorecard's sets (ml.scorecard). What differs
from ``make reader``: the reader is read in fp32, not through its int8 graph (a 98% label
agreement), and the encoder travels in bf16 (its weights rounded by 2^-8 at most).

On the device tool (docs/experiments/2026-11-29-reader-recipes-on-a-gpu.md says it step by
step): the checkout's tracked files are left out of every call (a call carries 64 MiB, the
pieces 143), pieces 0 and 1 travel alone, each copied to /tmp/bundle there while the machine
stays warm (30 s between calls); the last call carries piece 2, ``sha256``, the corpus's
rows and ``.gpu/run`` (the code, staged by ``prepare``) and runs, in .gpu/run,
``python3 -m ml.reader_recipes train --pieces /tmp/bundle --out $OUT``: 8 recipes in 260 s.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

from ml.reader_pieces import (
    CORPUS_ROWS,
    PIECE_BYTES,
    REPO_ROOT,
    pack,
    read_corpus_rows,
    stage_code,
    unpack,
    without_flask,
    write_corpus_rows,
)

PREPARED = REPO_ROOT / ".gpu" / "readers"
STAGED = REPO_ROOT / ".gpu" / "run"  # the code and splits the training there reads
DEVICE_WORK = Path("/tmp/reader-recipes")

#: ml.reader's arguments for ml.train, and the data each recipe adds: the splits alone
#: (the reader's until 29 November), the fast model's mix with the first corpus, or with
#: the whole corpus.
READER = ["--encoder", "mpnet", "--learning-rate", "4e-5"]
DATA = {"splits": ["--corpus", "none", "--written-share", "1.0"],
        "corpus": ["--corpus", "corpus", "--written-share", "0.5", "--corpus-share", "0.15"],
        "all": ["--corpus", "corpus", "--corpus-collections", "all", "--written-share", "0.5",
                "--corpus-share", "0.09"]}  # ml.reader's own since 29 November
#: The same mixes, half of each read an epoch: two epochs for the steps of one.
DATA |= {f"{data}-half": [*arguments[:-4], "--written-share", str(float(arguments[-3]) / 2),
                          "--corpus-share", str(float(arguments[-1]) / 2)]
         for data, arguments in list(DATA.items()) if data != "splits"}
RECIPES = {f"{data}-e{epochs}-s{seed}": [*READER, *DATA[data], "--epochs", str(epochs),
                                        "--seed", str(seed)]
           for data in DATA for epochs in (1, 2) for seed in (13, 7)}
#: Trained by default: one epoch against two, the splits against the first corpus, two seeds.
CHOSEN = [name for name in RECIPES if not name.startswith("all-") and "-half-" not in name]


def documents() -> list:
    from ml.documents import read_documents
    from ml.recipe import DEV_DOCUMENTS, NEW_WRITERS_DOCUMENTS, TEST_DOCUMENTS

    return [d for path in (DEV_DOCUMENTS, TEST_DOCUMENTS, NEW_WRITERS_DOCUMENTS)
            for d in read_documents(path)]


def key(item) -> str:
    """One model input (a sentence, or a sentence and its context) as a table's key."""
    return json.dumps(item, ensure_ascii=False)


def inputs_of(docs, mode) -> list:
    """Every input ``mode`` reads of the sentences the scan path judges in ``docs``, once."""
    from service.analysis.reading import placed

    seen: dict[str, object] = {}
    for document in docs:
        for item in placed(document.text):
            read = mode.input(item)
            seen.setdefault(key(read), read)
    return list(seen.values())


class _Labels:
    """Stands for the classifier where TransformerAnalyzer attaches one: its labels alone."""

    runtime, quantize = "recorded", "none"

    def __init__(self, labels: list[str]):
        self.config = types.SimpleNamespace(id2label=dict(enumerate(labels)),
                                            num_labels=len(labels))

    def eval(self):
        return self


def recorded(version: str, spec, labels: list[str], inputs: list, logits):
    """A TransformerAnalyzer whose logits are looked up, not computed: every other step
    (temperature, score map, operating point, labels) is the service's own."""
    import numpy as np

    from service.analysis.devices import Device
    from service.analysis.transformer import TransformerAnalyzer

    rows = {key(item): index for index, item in enumerate(inputs)}

    class Recorded(TransformerAnalyzer):
        def _logits(self, sentences, progress: bool):
            mode = self.spec.input_mode
            return np.asarray(logits)[[rows[key(mode.input(s))] for s in sentences]]

    analyzer = Recorded.__new__(Recorded)
    analyzer._attach(_Labels(labels), None, version=version, device=Device("cpu"),
                     batch_size=64, spec=spec)
    return analyzer


# ---- here: the pieces a lent machine needs ----------------------------------------------

def prepare(target: Path = PREPARED, piece_bytes: int = PIECE_BYTES) -> list[Path]:
    """The mpnet encoder and the inputs of every evaluation document, in pieces."""
    from ml.encoders import encoder_dir
    from service.analysis.model_spec import IN_CONTEXT

    pieces = pack(encoder_dir("mpnet"), inputs_of(documents(), IN_CONTEXT), target, piece_bytes)
    write_corpus_rows(target / CORPUS_ROWS, [DATA["corpus"], DATA["all"]])
    stage_code(STAGED)
    return pieces


# ---- there: the trainings ----------------------------------------------------------------

def train_one(name: str, encoder: Path, extra: list[str], limit: int | None = None,
              work: Path = DEVICE_WORK) -> None:
    """Train recipe ``name`` (with ml.train flags ``extra``) and write its logits on the
    inputs (the first ``limit``: a smoke run) to ``work/<name>.npz``."""
    without_flask()
    import numpy as np

    if (work / CORPUS_ROWS).is_file():
        read_corpus_rows(work / CORPUS_ROWS)
    from ml.recipe import parse_config
    from ml.train import Trainer

    config = parse_config([*RECIPES[name], "--encoder-dir", str(encoder), "--version", name,
                           "--output-root", str(work / "models"), "--no-set-current", *extra])
    trainer = Trainer(config)
    trainer.prepare()
    if not name.startswith("splits-") and not getattr(trainer, "corpus_rows", 0):
        sys.exit(f"{name}: no corpus rows read (is {CORPUS_ROWS} beside the pieces?)")
    trainer.fit()
    inputs = [tuple(item) if isinstance(item, list) else item for item in json.loads(
        gzip.decompress((work / "inputs.json.gz").read_bytes()))][:limit]
    logits = trainer.validator.logits(inputs).numpy()
    record = {"recipe": name, "arguments": RECIPES[name], "history": trainer.history,
              "best_epoch": trainer.best_epoch, "labels": trainer.validator.labels,
              "spec": trainer.spec.to_training(), "seconds": round(trainer.training_seconds)}
    np.savez(work / f"{name}.npz", logits=logits.astype(np.float32),
             record=np.frombuffer(json.dumps(record).encode(), dtype=np.uint8))


def train(names: list[str], pieces: list[Path], out: Path, extra: str = "",
          limit: int | None = None, work: Path = DEVICE_WORK) -> None:
    """Every recipe in ``names`` at once on the one GPU; ``out/logits.npz`` gathers those
    finished each time one ends, so that a call cut short still returns what it trained."""
    import numpy as np

    started = time.perf_counter()
    encoder = unpack(pieces, work)  # the corpus's rows too, when they came
    print(f"unpacked in {time.perf_counter() - started:.0f} s", flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": "2", "TOKENIZERS_PARALLELISM": "false"}

    def start(name: str) -> subprocess.Popen:
        with open(work / f"{name}.log", "w") as log:  # the child holds its own copy
            return subprocess.Popen(
                [sys.executable, "-m", "ml.reader_recipes", "one", name, "--encoder",
                 str(encoder), f"--extra={extra}",
                 *(["--limit-inputs", str(limit)] if limit else [])],
                cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    running = {name: start(name) for name in names}
    done: dict[str, int] = {}
    while running:
        finished = [name for name, process in running.items() if process.poll() is not None]
        for name in finished:
            done[name] = running.pop(name).returncode
            print(f"{name}: exit {done[name]} at {time.perf_counter() - started:.0f} s",
                  flush=True)
            gathered = {}
            for other in done:
                if (work / f"{other}.npz").is_file():
                    with np.load(work / f"{other}.npz") as saved:
                        gathered[f"{other}/logits"] = saved["logits"]
                        gathered[f"{other}/record"] = saved["record"]
            np.savez_compressed(out / "logits.npz", **gathered)
            logs = {other: (work / f"{other}.log").read_text()[-4000:] for other in done}
            (out / "logs.json").write_text(json.dumps(logs, indent=1))
        if not finished:
            time.sleep(2)


# ---- here again: the figures --------------------------------------------------------------

def read_inputs(path: Path) -> list:
    return [tuple(item) if isinstance(item, list) else item
            for item in json.loads(gzip.decompress(path.read_bytes()))]


def recorded_fast(model_dir: Path, docs, cache: Path):
    """The fast model as served (its folder's graph and calibration), its logits on every
    sentence of ``docs`` computed once and kept in ``cache``: the recipes share them."""
    import numpy as np

    from service.analysis.transformer import TransformerAnalyzer

    fast = TransformerAnalyzer(model_dir)
    inputs = inputs_of(docs, fast.input_mode)
    if cache.is_file():
        logits = np.load(cache)
    else:
        logits = fast.logits(inputs).numpy()
        np.save(cache, logits)
    stand_in = recorded(fast.version, fast.spec, fast.labels, inputs, logits)
    stand_in.calibrate(fast.temperature, fast.min_score, score_map=fast.score_map)
    return stand_in


def figures_of(name: str, record: dict, logits, inputs: list, fast) -> dict:
    """A reader recipe's cards, alone and behind ``fast``: calibrated on the development
    documents, screened as ml.cascade screens, scored on ml.scorecard's sets."""
    from ml.calibrate import calibration_of
    from ml.cascade import choose_screen, documents_beside, passed_shares
    from ml.documents import read_documents, score_documents
    from ml.recipe import DEV_DOCUMENTS, NEW_WRITERS_DOCUMENTS, TEST_DOCUMENTS
    from ml.scorecard import scorecard_of
    from service.analysis.cascade_model import Cascade
    from service.analysis.model_spec import ModelSpec

    reader = recorded(name, ModelSpec.from_training(record["spec"]), record["labels"],
                      inputs, logits)
    dev = read_documents(DEV_DOCUMENTS)
    calibration, dev_reader = calibration_of(reader, dev, DEV_DOCUMENTS.name)
    dev_fast = score_documents(fast, dev)
    threshold, kept = choose_screen(dev_fast, dev_reader, reader.min_score)
    test = read_documents(TEST_DOCUMENTS)
    seed = record["arguments"][record["arguments"].index("--seed") + 1]
    sets = (TEST_DOCUMENTS, DEV_DOCUMENTS, NEW_WRITERS_DOCUMENTS)
    cascade = Cascade(fast, reader, threshold=threshold)
    return {
        "recipe": name, "fast_model": fast.version, "best_epoch": record["best_epoch"],
        "history": record["history"], "training_seconds_on_the_gpu": record["seconds"],
        "calibration": {key: calibration[key] for key in ("temperature", "min_score")},
        "screen": threshold, "kept_on_dev": kept,
        "passed": {"dev": passed_shares(dev, dev_fast, threshold),
                   "test": passed_shares(test, score_documents(fast, test), threshold)},
        "dev_documents": documents_beside(dev, dev_fast, fast.min_score, dev_reader,
                                          reader.min_score, threshold, None),
        "reader": scorecard_of(reader, seed, *sets),
        "cascade": {**scorecard_of(cascade, seed, *sets), "model": f"{fast.version}+{name}"},
    }


def measure_all(logits_path: Path, fast_dirs: list[Path], json_path: Path | None,
                inputs_path: Path = PREPARED / "inputs.json.gz") -> list[dict]:
    """Every recipe in ``logits_path`` behind every fast model; a markdown table of the
    cascades, each recipe's seeds and their mean, on stdout."""
    import functools

    import numpy as np

    from ml.scorecard import markdown, mean
    from service.analysis import reading

    reading.split_sentences = functools.lru_cache(maxsize=None)(reading.split_sentences)
    inputs, docs = read_inputs(inputs_path), documents()
    saved = np.load(logits_path)
    names = sorted({entry.split("/")[0] for entry in saved.files})
    results = []
    for fast_dir in fast_dirs:
        fast = recorded_fast(fast_dir, docs, Path(f"/tmp/fast-logits-{fast_dir.name}.npy"))
        for name in names:
            record = json.loads(saved[f"{name}/record"].tobytes())
            results.append(figures_of(name, record, saved[f"{name}/logits"], inputs, fast))
            if json_path is not None:
                json_path.write_text(json.dumps(results, indent=1, default=str))
            print(f"measured {name} behind {fast.version}", file=sys.stderr, flush=True)
    for stage in ("cascade", "reader"):
        cards = []
        for prefix in dict.fromkeys(r["recipe"].rsplit("-s", 1)[0] for r in results):
            for fast_version in dict.fromkeys(r["fast_model"] for r in results):
                seeds = [r[stage] for r in results if r["fast_model"] == fast_version
                         and r["recipe"].rsplit("-s", 1)[0] == prefix]
                cards += [*seeds, {**mean(seeds), "model": f"{prefix}: mean"}]
        print(f"\n## {stage}\n\n{markdown(cards)}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.reader_recipes",
                                     description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    preparer = commands.add_parser("prepare", help="here: the pieces to carry")
    preparer.add_argument("--piece-mib", type=int, default=PIECE_BYTES >> 20)
    trainer = commands.add_parser("train", help="there: train the recipes, write logits")
    trainer.add_argument("recipes", nargs="*", default=CHOSEN, help=", ".join(RECIPES))
    trainer.add_argument("--pieces", type=Path, default=PREPARED)
    trainer.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ".")))
    trainer.add_argument("--extra", default="", help="more ml.train flags, as one string")
    trainer.add_argument("--limit-inputs", type=int, default=None, help="a smoke run's")
    one = commands.add_parser("one")  # one recipe's process, started by train
    one.add_argument("recipe", choices=list(RECIPES))
    one.add_argument("--encoder", type=Path, required=True)
    one.add_argument("--extra", default="")
    one.add_argument("--limit-inputs", type=int, default=None)
    measure = commands.add_parser("measure", help="here: the figures of logits brought back")
    measure.add_argument("logits", type=Path)
    measure.add_argument("--fast", type=Path, nargs="+", required=True,
                         help="the fast models to fit each reader to")
    measure.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare(piece_bytes=args.piece_mib << 20)
    elif args.command == "train":
        if unknown := set(args.recipes) - set(RECIPES):
            parser.error(f"no recipe {', '.join(sorted(unknown))}")
        DEVICE_WORK.mkdir(parents=True, exist_ok=True)
        train(args.recipes, sorted(args.pieces.glob("piece-*")), args.out, args.extra,
              args.limit_inputs)
    elif args.command == "one":
        import shlex

        train_one(args.recipe, args.encoder, shlex.split(args.extra), args.limit_inputs)
    else:
        measure_all(args.logits, args.fast, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
