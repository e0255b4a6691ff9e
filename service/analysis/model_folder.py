"""A model version's folder, and the models root's pointers to one: the one owner of their
file names, of how each file is read and written, and of how a folder comes to be.

ml/ writes version folders and service/ reads them; both go through here, so that a file
added to a version is named once. A folder is complete or absent: ``staged`` writes it
beside the root's folders and renames it in whole, so a failure leaves nothing. After that
only the steps that finish a version write into it (the cascade's screen, a deployment's
score map, the int8 graph a reader caches), each a whole file at once.

The root names the versions it serves by two pointer files: ``current`` (the fast model)
and ``reader`` (the cascade's reader), each holding a folder's name.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.analysis.model_spec import ModelSpec

#: The encoder's configuration (transformers): architecture and labels (``id2label``).
CONFIG_JSON = "config.json"
TOKENIZER_JSON = "tokenizer.json"
TOKENIZER_CONFIG_JSON = "tokenizer_config.json"
#: The taxonomy's labels in output order, as the training wrote them.
LABELS_JSON = "labels.json"
#: How the model was trained: the recipe, the data's digests, how it reads (``reads``).
TRAINING_JSON = "training_config.json"
#: The card's figures: sentence macro-F1, document precision and recall.
METRICS_JSON = "metrics.json"
#: The softmax temperature, the operating point and the score map (ml.calibrate).
CALIBRATION_JSON = "calibration.json"
#: The findings on the built-in check text, which activation compares (check.py).
CHECK_JSON = "check.json"
#: A reader's screen threshold and the fast model it was fitted to (ml.cascade).
SCREEN_JSON = "screen.json"
#: What a training from corrections adapted the encoder on (ml.adapt).
ADAPTATION_JSON = "adaptation.json"
ONNX = "model.onnx"
# A pair model's folder (the models root's ``pair``: service/analysis/pair_model.py) holds
# ONNX and TOKENIZER_JSON too, and its threshold, max length and figures.
PAIR_JSON = "pair_model.json"
#: The models root's folder the register reads its pair model from (projects/register/matching.py).
PAIR_FOLDER = "pair"
#: The int8 graph a reader is served as, made from ONNX on first use and kept.
INT8_ONNX = "model.int8.onnx"
SAFETENSORS = "model.safetensors"
#: The model card.
CARD = "README.md"

#: The small JSON files a folder may hold, each of which must parse.
JSON_FILES = (CONFIG_JSON, CALIBRATION_JSON, CHECK_JSON, METRICS_JSON, TRAINING_JSON,
              TOKENIZER_CONFIG_JSON, SCREEN_JSON, PAIR_JSON)
#: The weights the service can run: ONNX Runtime's graph on the CPU, torch's on CUDA.
WEIGHTS = (ONNX, SAFETENSORS)
#: Bytes of a JSON or card file read at most.
READ_LIMIT = 1 << 20

#: The root's pointer to the fast model's version, and to the cascade's reader's.
CURRENT = "current"
READER = "reader"


class Role(StrEnum):
    """What a model folder is for, read from the files it holds (ModelFolder.role): the
    fast model classifies every sentence; a reader (screen.json) decides behind one; the
    register's pair model (pair_model.json) decides which entry a finding joins. A str, so
    that the API's ``role`` and the console's forms carry it as they did."""

    FAST = "fast"
    READER = "reader"
    PAIR = "pair"


@dataclass(frozen=True)
class Calibration:
    """calibration.json: scores are divided by ``temperature`` before the softmax, a finding
    needs ``min_score``, and ``score_map`` (slope, intercept, floor) maps the risk score
    shown (service/analysis/scores.py); None keeps the tempered score."""

    temperature: float
    min_score: float
    score_map: tuple[float, float, float] | None


@dataclass(frozen=True)
class ModelFolder:
    """One version folder. Reads are bounded (READ_LIMIT) and say nothing of a file's
    absence but by None or {}; writes replace a whole file, readable by the service."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def name(self) -> str:
        return self.path.name

    def file(self, name: str) -> Path:
        return self.path / name

    def has(self, name: str) -> bool:
        return (self.path / name).is_file()

    def read_json(self, name: str) -> Any:
        """The file's JSON; FileNotFoundError, or ValueError for one too large or not JSON."""
        path = self.path / name
        if path.stat().st_size > READ_LIMIT:
            raise ValueError(f"{name} is over {READ_LIMIT} bytes")
        return json.loads(path.read_text(encoding="utf-8"))

    def object(self, name: str) -> dict | None:
        """The file's JSON object; None where it is missing, unreadable or not an object."""
        try:
            value = self.read_json(name)
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def write_json(self, name: str, value: Any) -> Path:
        path = self.path / name
        write_whole(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")
        return path

    def config(self) -> dict:
        """config.json (raises as read_json does: a folder without one is no model)."""
        return self.read_json(CONFIG_JSON)

    def training(self) -> dict:
        return self.object(TRAINING_JSON) or {}

    def metrics(self) -> dict:
        return self.object(METRICS_JSON) or {}

    def calibration(self) -> Calibration | None:
        """calibration.json, typed; None where there is none; ValueError for one that is
        unreadable or out of range."""
        try:
            value = self.read_json(CALIBRATION_JSON)
            score_map = value.get("score_map")
            if score_map is not None:
                score_map = (float(score_map["slope"]), float(score_map["intercept"]),
                             float(score_map.get("floor", 0.0)))
            return Calibration(float(value["temperature"]), float(value["min_score"]),
                               score_map)
        except FileNotFoundError:
            return None
        except (OSError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(type(error).__name__) from error

    def spec(self) -> ModelSpec:
        """How the folder's model reads its input (model_spec.py), as training_config.json
        records it; a folder without one reads sentences alone. ValueError (UnknownInputMode for
        a retired mode) or TypeError for a record that is wrong: never misread."""
        from service.analysis.model_spec import ModelSpec

        try:
            training = self.read_json(TRAINING_JSON)
        except FileNotFoundError:
            training = {}
        if not isinstance(training, dict):
            raise TypeError(f"{TRAINING_JSON} is not an object")
        return ModelSpec.from_training(training)

    def screen(self) -> dict | None:
        return self.object(SCREEN_JSON)

    @property
    def role(self) -> Role:
        """The pair model where a pair_model.json is (it classifies nothing), a reader where
        a screen.json is, else a fast model."""
        if self.has(PAIR_JSON):
            return Role.PAIR
        return Role.READER if self.has(SCREEN_JSON) else Role.FAST

    def fitted_to(self) -> str | None:
        """The fast model a reader's screen threshold was chosen on, if its screen names one."""
        fast = (self.screen() or {}).get("fast_model")
        return fast if isinstance(fast, str) else None

    def card(self) -> str | None:
        """The model card's text; None where there is none or it is over READ_LIMIT."""
        path = self.path / CARD
        if not path.is_file() or path.stat().st_size > READ_LIMIT:
            return None
        return path.read_text(encoding="utf-8", errors="replace")

    def write_card(self, text: str) -> None:
        write_whole(self.path / CARD, text)

    def write_card_section(self, heading: str, body: str) -> None:
        """The card's section ``## heading`` made ``body``: replaced where the card has it
        (a step run again says it once), else added at the end."""
        text = (self.card() or "").rstrip("\n") + "\n"
        marker = f"\n## {heading}\n"
        if marker in text:
            before, _, after = text.partition(marker)
            rest = after.partition("\n## ")
            text = before.rstrip("\n") + "\n" + (f"\n## {rest[2]}" if rest[1] else "")
        self.write_card(text.rstrip("\n") + f"\n{marker}\n{body.strip()}\n")

    def size_bytes(self) -> int:
        return sum(file.stat().st_size for file in self.path.iterdir() if file.is_file())


@contextlib.contextmanager
def staged(target: Path) -> Iterator[Path]:
    """A hidden folder beside ``target`` to write a version into, renamed to ``target``
    when the block ends, removed when it raises: the version is complete or absent.
    FileExistsError where ``target`` exists: versions are never overwritten."""
    target = Path(target)
    if target.exists():
        raise FileExistsError(f"{target} already exists: versions are never overwritten")
    staging = target.parent / f".{target.name}.{os.getpid()}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
        publish(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def publish(staging: Path, target: Path) -> None:
    """Rename the complete folder ``staging`` to ``target`` in one step, readable by all;
    FileExistsError where ``target`` exists (a version is never overwritten)."""
    if target.exists():
        raise FileExistsError(f"{target} already exists: versions are never overwritten")
    readable(staging)
    os.replace(staging, target)


def readable(folder: Path) -> None:
    """Every file and folder under ``folder`` readable by all (the service may run as
    another user), whatever the umask of the process that wrote it."""
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def point(root: Path, version: str, pointer: str = CURRENT) -> Path:
    """Make ``root/pointer`` name ``version``, in one rename."""
    if pointer not in (CURRENT, READER):
        raise ValueError(f"no pointer {pointer!r}")
    path = Path(root) / pointer
    write_whole(path, version + "\n")
    return path


def pointed(root: Path, pointer: str = CURRENT) -> str | None:
    """The version ``root/pointer`` names, None where there is no such file; ValueError
    where it holds anything but one folder's name."""
    path = Path(root) / pointer
    try:
        version = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except IsADirectoryError:  # a link to the folder, say: a file is what point() writes
        raise ValueError(f"{path} should be a file that holds a version folder name, not a "
                         "folder (or a link to one)") from None
    if not version or Path(version).name != version or version in (".", ".."):
        raise ValueError(f"{path} should hold a version folder name, not {version!r}")
    return version


def is_version(path: Path) -> bool:
    """Whether ``path`` is a version folder itself rather than a root (it has config.json)."""
    return (Path(path) / CONFIG_JSON).is_file()


def write_whole(path: Path, text: str, mode: int = 0o644) -> None:
    """``text`` as the file ``path``, created with ``mode`` and renamed into place: a reader
    meets the old file or the new one, never half of one (a process killed while writing
    leaves only a hidden .partial beside it)."""
    path = Path(path)
    pending = path.parent / f".{path.name}.{os.getpid()}.partial"
    with os.fdopen(os.open(pending, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w",
                   encoding="utf-8") as file:
        file.write(text)
    os.chmod(pending, mode)  # whatever the umask took away
    os.replace(pending, path)
