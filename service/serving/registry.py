"""The model registry: the model folders under the models root, what each one is, and the one
way from a version name to its folder.

The models root is MODEL_DIR when it is a root (it names its model with ``current``), else
the folder that holds MODEL_DIR's model. A version is the name of one of its folders, and a
name from a request becomes a path only after ``folder`` has checked it: one path segment
of plain characters, not hidden, a folder that resolves inside the root (a link to one
elsewhere is broken), with no file in it that links outside the root. Folders are read,
never written: ml.train writes them, once, and they are never overwritten.

A folder is a fast model, a reader (it holds the screen.json of ``python -m ml.cascade``) or
the register's pair model (a pair_model.json: ``make pair-model``), which classifies nothing
and is in use when it is the root's ``pair`` folder. What a deployment serves is ``F`` (the fast model alone) or ``F+R`` (the cascade of F and
the reader R: service/analysis/cascade_model.py), the string each scan stores as model_version.

``models`` lists every folder with its role, its card's figures and its state (active,
shadow, available, broken with the reason seen from its files). ``load`` builds what a
version string names and runs its check (service/analysis/check.py): one that fails
either raises ModelRefused with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from service.analysis.labels import LABELS, NONE
from service.analysis.model_folder import (
    CALIBRATION_JSON,
    JSON_FILES,
    METRICS_JSON,
    ONNX,
    PAIR_FOLDER,
    PAIR_JSON,
    SCREEN_JSON,
    TOKENIZER_JSON,
    WEIGHTS,
    ModelFolder,
    Role,
    is_version,
)
from service.config import Settings
from service.errors import APIError
from service.serving.regressions import regressions

#: A folder's version name: one path segment, letters and digits first (hidden folders, such
#: as the test suite's .test-*, are not versions), no ``+`` (it joins a cascade's two), and
#: short enough that ``F+R`` fits the deployment's column (128).
VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
#: Joins the fast model's version and its reader's in a cascade's: ``F+R``.
JOIN = "+"
STATES = ("active", "shadow", "available", "broken")


class ModelRefused(APIError):
    """A version that cannot serve: it failed to load, or its check (422). ``folder``: a
    folder that failed to load alone, which the registry then lists as broken (a refused
    cascade or role leaves its folders' states as they are)."""

    def __init__(self, version: str, reason: str, *, folder: str | None = None):
        super().__init__(422, f"Model {version} cannot serve: {reason}",
                         title="Model refused")
        self.reason = reason
        self.folder = folder


def root(settings: Settings) -> Path | None:
    """The models root, or None when the in-process model is off."""
    path = settings.model_path
    if path is None:
        return None
    return path.parent if is_version(path) else path


def configured_version(settings: Settings, model=None) -> str | None:
    """The version MODEL_DIR names (its own folder, or the one its ``current`` file names),
    joined to its reader's when ``model``, as the settings built it, is a cascade."""
    from service.analysis.transformer import resolve_model_dir

    path = settings.model_path
    if path is None:
        return None
    try:
        fast = resolve_model_dir(path).name
    except Exception:  # noqa: BLE001 - no model yet: nothing is configured
        return None
    reader = getattr(model, "reader", None)
    return fast if reader is None else f"{fast}{JOIN}{reader.version}"


def parts(version) -> tuple[str, str | None]:
    """(fast, reader) of a version string: ``F``, or ``F+R`` the cascade (reader None for
    F alone); a 404 for any other string (``F+``, ``+R``, ``F+R+X``, a path)."""
    names = version.split(JOIN) if isinstance(version, str) else []
    if not 1 <= len(names) <= 2 or not all(VERSION.fullmatch(name) for name in names):
        raise unknown(version)
    return names[0], names[1] if len(names) == 2 else None


def with_reader(version: str, reader: str | None) -> str:
    """``version`` with the reader a request names beside it (``F`` and ``R``: ``F+R``); a
    422 when ``version`` names a reader already. None: ``version`` as it is."""
    if reader is None:
        return version
    if isinstance(version, str) and JOIN in version:
        raise APIError(422, f"{version[:130]!r} names its reader already: name it once, in "
                            "the version or in the body's reader.")
    return f"{version}{JOIN}{reader}"


def role(path: Path) -> Role:
    """The folder's Role (model_folder.ModelFolder.role says which is which)."""
    return ModelFolder(path).role


def fitted_to(path: Path) -> str | None:
    """The fast model a reader's screen threshold was chosen on (its screen.json), if named."""
    return ModelFolder(path).fitted_to()


def folder(settings: Settings, version: str) -> Path:
    """The folder of ``version``, inside the models root; a 404 for any name that is not
    one of its folders (a path, a hidden folder, a file, nothing)."""
    models = root(settings)
    if models is None or not isinstance(version, str) or not VERSION.fullmatch(version):
        raise unknown(version)
    path = models / version
    if not path.is_dir():
        raise unknown(version)
    return path


def unknown(version) -> APIError:
    shown = version[:130] if isinstance(version, str) else "?"
    return APIError(404, f"No model version {shown!r} in the registry.")


def broken_reason(path: Path, models: Path) -> str | None:
    """Why the folder ``path`` cannot be a model, seen from its files alone; None if it can.
    Nothing is loaded: ``load`` finds what only loading shows."""
    outside = links_outside(path, models)
    if outside:
        return outside
    model = ModelFolder(path)
    if model.role is Role.PAIR:
        return _pair_broken(model)
    try:
        labels = set(model.config()["id2label"].values())
    except FileNotFoundError:
        return "no config.json"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "config.json is unreadable or has no id2label"
    if not labels <= set(LABELS) or NONE not in labels:
        return f"its labels are not the taxonomy's: {sorted(labels - set(LABELS))[:5]}"
    for name in JSON_FILES:
        if (path / name).exists() and model.object(name) is None:
            return f"{name} is unreadable"
    if model.role is Role.READER and not _screen_threshold(model):
        return f"{SCREEN_JSON} has no screen threshold within 0..1"
    if not any(model.has(name) for name in WEIGHTS):
        return "no weights (model.onnx or model.safetensors)"
    if model.has(ONNX) and not _onnx_graph(model.file(ONNX)):
        return "model.onnx is not an ONNX model (cut short or corrupt)"
    if not model.has(TOKENIZER_JSON):
        return "no tokenizer.json"
    return None


def _screen_threshold(model: ModelFolder) -> bool:
    return _probability((model.screen() or {}).get("screen"))


def _probability(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1


def _pair_broken(model: ModelFolder) -> str | None:
    """Why a pair model's folder cannot decide joins, seen from the files PairModel reads."""
    config = model.object(PAIR_JSON)
    if config is None:
        return f"{PAIR_JSON} is unreadable"
    if not _probability(config.get("threshold")):
        return f"{PAIR_JSON} has no threshold within 0..1"
    length = config.get("max_length")
    if not isinstance(length, int) or isinstance(length, bool) or not 0 < length <= 512:
        return f"{PAIR_JSON} has no max_length within 1..512"
    if not model.has(ONNX):
        return "no weights (model.onnx)"
    if not _onnx_graph(model.file(ONNX)):
        return "model.onnx is not an ONNX model (cut short or corrupt)"
    if not model.has(TOKENIZER_JSON):
        return "no tokenizer.json"
    return None


def _onnx_graph(path: Path) -> bool:
    """Whether ``path`` is a protobuf message with a graph (an ONNX ModelProto's field 7),
    seen from its top-level fields alone: each is skipped by a seek, so that a file of
    hundreds of megabytes costs a few reads (onnx.load would parse every weight). A file
    cut short or not protobuf fails here; only loading finds a graph that is wrong."""
    size, numbers = path.stat().st_size, set()
    try:
        with path.open("rb") as file:
            while file.tell() < size:
                key = _varint(file)
                number, wire = key >> 3, key & 7
                if number == 0 or wire not in (0, 1, 2, 5):
                    return False
                skip = {0: 0, 1: 8, 2: None, 5: 4}[wire]
                if wire == 0:
                    _varint(file)
                skip = _varint(file) if skip is None else skip
                if file.tell() + skip > size:
                    return False
                file.seek(skip, 1)
                numbers.add(number)
    except (OSError, ValueError):
        return False
    return 7 in numbers


def _varint(file) -> int:
    value = 0
    for shift in range(0, 64, 7):
        byte = file.read(1)
        if not byte:
            raise ValueError("cut short")
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return value
    raise ValueError("a varint over 64 bits")


def links_outside(path: Path, models: Path) -> str | None:
    """Why reading ``path`` would leave the models root (a link out), or None."""
    inside = models.resolve()
    if not path.resolve().is_relative_to(inside):
        return "the folder links outside the models root"
    for file in path.iterdir():
        if file.is_symlink() and not file.resolve().is_relative_to(inside):
            return f"{file.name} links outside the models root"
    return None


def summary(path: Path, models: Path, *, state: str, reason: str | None,
            runtime: str) -> dict:
    """What the registry lists of one folder: the card's figures, not the card. A folder
    that links outside the root is named, and nothing in it is read."""
    model = ModelFolder(path)
    readable = links_outside(path, models) is None
    metrics = model.metrics() if readable else {}
    trained = model.training() if readable else {}
    calibration = metrics.get("calibration") or (readable and model.object(CALIBRATION_JSON)) or {}
    encoder = trained.get("encoder")
    kind = model.role if readable else Role.FAST
    if kind is Role.PAIR:  # its operating point is the probability from which it joins
        pair = model.object(PAIR_JSON) or {}
        calibration, encoder = {"min_score": pair.get("threshold")}, {"name": pair.get("base")}
    return {
        "version": path.name,
        "state": state,
        "reason": reason,
        "role": kind,
        "fitted_to": model.fitted_to() if kind is Role.READER else None,
        "encoder": encoder.get("name") if isinstance(encoder, dict) else None,
        "runtime": runtime,
        "size_bytes": model.size_bytes() if readable else None,
        "created": datetime.fromtimestamp(path.lstat().st_mtime, UTC),
        "figures": _figures(metrics, calibration),
    }


def card(path: Path, models: Path) -> dict:
    """The card of a folder: its README.md (the model card), metrics and calibration;
    nothing of a folder that links outside the models root."""
    if links_outside(path, models):
        return {"card": None, "metrics": None, "calibration": None}
    model = ModelFolder(path)
    return {"card": model.card(), "metrics": model.object(METRICS_JSON),
            "calibration": model.object(CALIBRATION_JSON)}


def models(settings: Settings, *, active: str | None, shadow: str | None,
           refused: dict[str, str], runtime: str) -> list[dict]:
    """Every version under the models root, newest first. ``refused``: versions whose load
    or check failed in this process, with the reason (they are broken too). Both folders
    of an active (or shadow) cascade are active (or shadow), and so is the pair model in
    the root's ``pair`` folder, which the register reads."""
    base = root(settings)
    if base is None or not base.is_dir():
        return []
    active_names, shadow_names = _names(active), _names(shadow)
    # The active model of each role, whose card each other version is compared with.
    beside = {role: metrics(base / name) if name else None
              for role, name in zip((Role.FAST, Role.READER), parts(active) if active else (None, None))}
    listed = []
    for path in base.iterdir():
        if not VERSION.fullmatch(path.name) or not path.is_dir():
            continue
        reason = broken_reason(path, base) or refused.get(path.name)
        in_use = path.name in active_names or (path.name == PAIR_FOLDER and role(path) is Role.PAIR)
        state = ("broken" if reason else "active" if in_use
                 else "shadow" if path.name in shadow_names else "available")
        model = summary(path, base, state=state, reason=reason, runtime=runtime)
        compared = beside.get(model["role"])
        model["regressions"] = (
            regressions(metrics(path), compared)
            if state in ("available", "shadow") and compared is not None
            and links_outside(path, base) is None else {})
        listed.append(model)
    return sorted(listed, key=lambda model: (model["created"], model["version"]),
                  reverse=True)


def _names(version: str | None) -> set[str]:
    return set(version.split(JOIN)) if version else set()


@dataclass(frozen=True)
class Version:
    """A version string of the registry with its folders: ``F`` (reader None) or ``F+R``.
    Resolved once (``resolve``), it is what the deployment's steps pass on."""

    name: str
    fast: Path
    reader: Path | None


def resolve(settings: Settings, version: str) -> Version:
    """``version`` with its folders; a 404 for a string that is not ``F`` or ``F+R`` of
    folders in the registry."""
    fast, reader = parts(version)
    return Version(version, folder(settings, fast),
                   folder(settings, reader) if reader else None)


def load(settings: Settings, resolved: Version):
    """The analyzer of a version (``F`` or ``F+R``), built as the scan path uses it,
    checked and warm; ModelRefused with the reason otherwise. A reader serves only behind
    a fast model, and only behind the one its screen was fitted to (the threshold is a
    point on that model's scores), when its screen.json names one."""
    from service.serving.loading import build_version

    version, fast, reader = resolved.name, resolved.fast, resolved.reader
    for path in (fast, reader):
        reason = path and broken_reason(path, root(settings))
        if reason:
            raise ModelRefused(version, f"{path.name}: {reason}" if reader else reason)
    _check_roles(version, fast, reader)
    try:
        return build_version(settings, fast, reader)
    except APIError:
        raise
    except Exception as error:
        detail = getattr(error, "detail", None) or f"{type(error).__name__}: {error}"
        raise ModelRefused(version, detail[:500],
                           folder=None if reader else fast.name) from error


def _check_roles(version: str, fast: Path, reader: Path | None) -> None:
    """ModelRefused unless ``fast`` is a fast model and ``reader`` (if any) a reader fitted
    to it."""
    if role(fast) is Role.PAIR or (reader is not None and role(reader) is Role.PAIR):
        pair = fast if role(fast) is Role.PAIR else reader
        raise ModelRefused(version, f"{pair.name} is the register's pair model: it decides "
                                    "which entry a finding joins and classifies no sentence; "
                                    f"the register reads it from the models root's "
                                    f"{PAIR_FOLDER!r} folder")
    if role(fast) is Role.READER:
        behind = fitted_to(fast) or "F"
        raise ModelRefused(version, f"{fast.name} is a reader: it decides only on what a "
                                    f"fast model passes on; activate it behind one, as "
                                    f"{behind}{JOIN}{fast.name}")
    if reader is None:
        return
    if role(reader) is not Role.READER:
        raise ModelRefused(version, f"{reader.name} is not a reader: it has no {SCREEN_JSON} "
                                    "(python -m ml.cascade --reader <folder> chooses its screen)")
    fitted = fitted_to(reader)
    if fitted is not None and fitted != fast.name:
        raise ModelRefused(version, f"the screen of {reader.name} was fitted to {fitted}, "
                                    f"not {fast.name}: fit it again with python -m ml.cascade "
                                    f"--reader <folder> --model <{fast.name}'s folder>")


def _figures(metrics: dict, calibration: dict) -> dict:
    """The card's figures: sentence macro-F1, and on the development and test documents
    precision, recall and category accuracy at the operating point."""
    def at(*keys):
        value = metrics
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    documents = {}
    for name in ("dev", "test"):
        overall = at("documents", name, "overall") or {}
        documents[name] = {key: overall.get(key) for key in
                           ("precision", "recall", "category_accuracy")}
    return {"sentence_macro_f1": {split: at(split, "macro_f1")
                                  for split in ("validation", "test")},
            "documents": documents,
            "min_score": calibration.get("min_score") if isinstance(calibration, dict)
            else None}


def metrics(folder: Path) -> dict:
    """A version folder's metrics.json (its card's figures), {} where it has none."""
    return ModelFolder(folder).metrics()

