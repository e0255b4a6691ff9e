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

On the device tool: the pieces (143 MiB) travel one a call, each call copying its piece to
/tmp/bundle there while the machine stays warm (30 s between calls), the last one running
``python3 -m ml.reader_recipes train --pieces /tmp/bundle --out $OUT``. The checkout's
tracked files (35 MiB) travel with every call, so pieces of 28 MiB (``--piece-mib 28``, six
calls) fit beside them; a call that carries only ``.gpu/readers/piece-N`` (the tree left out)
takes 60 MiB, the default.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import time
import types
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PREPARED = REPO_ROOT / ".gpu" / "readers"
PIECE_BYTES = 60 << 20  # a call carries 64 MiB in all
DEVICE_WORK = Path("/tmp/reader-recipes")

#: ml.reader's arguments for ml.train, and the data each recipe adds: the splits alone
#: (``make reader``), the fast model's mix with the first corpus, or the whole corpus.
READER = ["--encoder", "mpnet", "--learning-rate", "4e-5"]
DATA = {"splits": ["--corpus", "none", "--written-share", "1.0"],
        "corpus": ["--corpus", "corpus", "--written-share", "0.5", "--corpus-share", "0.15"],
        "all": ["--corpus", "corpus", "--corpus-collections", "all", "--written-share", "0.5",
                "--corpus-share", "0.09"]}
RECIPES = {f"{data}-e{epochs}-s{seed}": [*READER, *DATA[data], "--epochs", str(epochs),
                                        "--seed", str(seed)]
           for data in DATA for epochs in (1, 2) for seed in (13, 7)}
#: Trained by default: one epoch against two, the splits against the first corpus, two seeds.
CHOSEN = [name for name in RECIPES if not name.startswith("all-")]


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

    return pack(encoder_dir("mpnet"), inputs_of(documents(), IN_CONTEXT), target, piece_bytes)


def pack(source: Path, inputs: list, target: Path, piece_bytes: int = PIECE_BYTES
         ) -> list[Path]:
    """The encoder in ``source`` in bf16 (a high and a low byte a weight: the high bytes
    compress), its tokenizer and ``inputs``, as one xz tar cut into pieces a call can
    carry, with the digest of the whole beside them."""
    import hashlib
    import lzma

    import torch
    from safetensors.torch import load_file

    from service.analysis.model_folder import SAFETENSORS

    weights = {name: tensor for name, tensor in load_file(source / SAFETENSORS).items()
               if not name.startswith("pooler.")}  # the classifier reads no pooler
    header, high, low = [], io.BytesIO(), io.BytesIO()
    for name, tensor in weights.items():
        if tensor.is_floating_point():
            half = tensor.to(torch.bfloat16).contiguous().view(torch.int16).numpy()
            high.write((half.view("uint16") >> 8).astype("uint8").tobytes())
            low.write((half.view("uint16") & 0xFF).astype("uint8").tobytes())
        header.append({"name": name, "shape": list(tensor.shape), "dtype": str(tensor.dtype)})
    inputs_gz = gzip.compress(json.dumps(inputs, ensure_ascii=False).encode())
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        add("header.json", json.dumps({"tensors": header, "ints": {
            n: t.tolist() for n, t in weights.items() if not t.is_floating_point()}}).encode())
        add("high.bin", high.getvalue())
        add("low.bin", low.getvalue())
        for path in sorted(source.iterdir()):
            if path.is_file() and path.suffix in (".json", ".txt"):
                add(f"encoder/{path.name}", path.read_bytes())
        add("inputs.json.gz", inputs_gz)
    packed = lzma.compress(buffer.getvalue(), preset=6)
    target.mkdir(parents=True, exist_ok=True)
    (target / "inputs.json.gz").write_bytes(inputs_gz)  # what measure reads the logits by
    for old in target.glob("piece-*"):
        old.unlink()
    pieces = []
    for number, start in enumerate(range(0, len(packed), piece_bytes)):
        piece = target / f"piece-{number}"
        piece.write_bytes(packed[start:start + piece_bytes])
        pieces.append(piece)
    (target / "sha256").write_text(hashlib.sha256(packed).hexdigest() + "\n")
    print(f"{len(packed) / 2**20:.1f} MiB in {len(pieces)} pieces under {target}",
          file=sys.stderr)
    return pieces


# ---- there: the trainings ----------------------------------------------------------------

def without_flask() -> None:
    """The analysis and training code without the Flask app (``service/__init__`` imports
    it, and a lent machine has no Flask)."""
    package = types.ModuleType("service")
    package.__path__ = [str(REPO_ROOT / "service")]
    sys.modules.setdefault("service", package)


def unpack(pieces: list[Path], work: Path = DEVICE_WORK) -> Path:
    """The encoder folder in fp32 and the inputs, from the pieces (checked first)."""
    import hashlib
    import lzma

    import numpy as np
    import torch
    from safetensors.torch import save_file

    without_flask()  # there, the service package is read without its app
    from service.analysis.model_folder import SAFETENSORS

    packed = b"".join(piece.read_bytes() for piece in sorted(pieces, key=lambda p: int(
        p.name.rsplit("-", 1)[1])))
    expected = (pieces[0].parent / "sha256").read_text().strip()
    if hashlib.sha256(packed).hexdigest() != expected:
        sys.exit("the pieces are not the ones prepared: their digest differs")
    with tarfile.open(fileobj=io.BytesIO(lzma.decompress(packed))) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    header = json.loads(members["header.json"])
    high = np.frombuffer(members["high.bin"], dtype=np.uint8)
    low = np.frombuffer(members["low.bin"], dtype=np.uint8)
    encoder = work / "encoder"
    encoder.mkdir(parents=True, exist_ok=True)
    tensors, offset = {}, 0
    for entry in header["tensors"]:
        if entry["name"] in header["ints"]:
            tensors[entry["name"]] = torch.tensor(header["ints"][entry["name"]])
            continue
        count = int(np.prod(entry["shape"]))
        bits = (high[offset:offset + count].astype(np.uint32) << 24) | \
            (low[offset:offset + count].astype(np.uint32) << 16)
        tensors[entry["name"]] = torch.from_numpy(bits.view(np.float32).reshape(entry["shape"]))
        offset += count
    save_file(tensors, encoder / SAFETENSORS, metadata={"format": "pt"})
    for name, data in members.items():
        if name.startswith("encoder/"):
            (encoder / name.split("/", 1)[1]).write_bytes(data)
    (work / "inputs.json.gz").write_bytes(members["inputs.json.gz"])
    return encoder


def train_one(name: str, encoder: Path, extra: list[str], limit: int | None = None,
              work: Path = DEVICE_WORK) -> None:
    """Train recipe ``name`` (with ml.train flags ``extra``) and write its logits on the
    inputs (the first ``limit``: a smoke run) to ``work/<name>.npz``."""
    without_flask()
    import numpy as np

    from ml.recipe import parse_config
    from ml.train import Trainer

    config = parse_config([*RECIPES[name], "--encoder-dir", str(encoder), "--version", name,
                           "--output-root", str(work / "models"), "--no-set-current", *extra])
    trainer = Trainer(config)
    trainer.prepare()
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
    encoder = unpack(pieces, work)
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
