"""The model registry: the model folders under the models root, what each one is, and the one
way from a version name to its folder.

The models root is MODEL_DIR when it is a root (it names its model with ``current``), else
the folder that holds MODEL_DIR's model. A version is the name of one of its folders, and a
name from a request becomes a path only after ``folder`` has checked it: one path segment
of plain characters, not hidden, a folder that resolves inside the root (a link to one
elsewhere is broken), with no file in it that links outside the root. Folders are read,
never written: ml.train writes them, once, and they are never overwritten.

``models`` lists every folder with its card's figures and its state (active, shadow,
available, broken with the reason). ``load`` builds a version's analyzer and runs its check
(service/analysis/check.py): a version that fails either raises ModelRefused with the reason.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from service.analysis.labels import LABELS, NONE
from service.config import Settings
from service.errors import APIError

#: A version name: one path segment, letters and digits first (hidden folders, such as the
#: test suite's .test-*, are not versions).
VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
#: Bytes of a folder's JSON or card file read at most.
READ_LIMIT = 1 << 20
#: The weights the service can run: ONNX Runtime's graph on the CPU, torch's on CUDA.
WEIGHTS = ("model.onnx", "model.safetensors")
STATES = ("active", "shadow", "available", "broken")


class ModelRefused(APIError):
    """A version that cannot serve: it failed to load, or its check (422)."""

    def __init__(self, version: str, reason: str):
        super().__init__(422, f"Model {version} cannot serve: {reason}",
                         title="Model refused")
        self.reason = reason


def root(settings: Settings) -> Path | None:
    """The models root, or None when the in-process model is off."""
    path = settings.model_path
    if path is None:
        return None
    return path.parent if (path / "config.json").is_file() else path


def configured_version(settings: Settings) -> str | None:
    """The version MODEL_DIR names (its own folder, or the one its ``current`` file names)."""
    from service.analysis.transformer import resolve_model_dir

    path = settings.model_path
    if path is None:
        return None
    try:
        return resolve_model_dir(path).name
    except Exception:  # noqa: BLE001 - no model yet: nothing is configured
        return None


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
    try:
        config = _read_json(path / "config.json")
        labels = set(config["id2label"].values())
    except FileNotFoundError:
        return "no config.json"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "config.json is unreadable or has no id2label"
    if not labels <= set(LABELS) or NONE not in labels:
        return f"its labels are not the taxonomy's: {sorted(labels - set(LABELS))[:5]}"
    if not any((path / name).is_file() for name in WEIGHTS):
        return "no weights (model.onnx or model.safetensors)"
    if not (path / "tokenizer.json").is_file():
        return "no tokenizer.json"
    return None


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
    readable = links_outside(path, models) is None
    metrics = (readable and _read_json_or_none(path / "metrics.json")) or {}
    trained = (readable and _read_json_or_none(path / "training_config.json")) or {}
    calibration = (metrics.get("calibration") or
                   (readable and _read_json_or_none(path / "calibration.json")) or {})
    encoder = trained.get("encoder")
    return {
        "version": path.name,
        "state": state,
        "reason": reason,
        "encoder": encoder.get("name") if isinstance(encoder, dict) else None,
        "runtime": runtime,
        "size_bytes": sum(f.stat().st_size for f in path.iterdir() if f.is_file())
        if readable else None,
        "created": datetime.fromtimestamp(path.lstat().st_mtime, UTC),
        "figures": _figures(metrics, calibration),
    }


def card(path: Path, models: Path) -> dict:
    """The card of a folder: its README.md (the model card), metrics and calibration;
    nothing of a folder that links outside the models root."""
    if links_outside(path, models):
        return {"card": None, "metrics": None, "calibration": None}
    readme = path / "README.md"
    text = None
    if readme.is_file() and readme.stat().st_size <= READ_LIMIT:
        text = readme.read_text(encoding="utf-8", errors="replace")
    return {"card": text, "metrics": _read_json_or_none(path / "metrics.json"),
            "calibration": _read_json_or_none(path / "calibration.json")}


def models(settings: Settings, *, active: str | None, shadow: str | None,
           refused: dict[str, str], runtime: str) -> list[dict]:
    """Every version under the models root, newest first. ``refused``: versions whose load
    or check failed in this process, with the reason (they are broken too)."""
    base = root(settings)
    if base is None or not base.is_dir():
        return []
    listed = []
    for path in base.iterdir():
        if not VERSION.fullmatch(path.name) or not path.is_dir():
            continue
        reason = broken_reason(path, base) or refused.get(path.name)
        state = ("broken" if reason else "active" if path.name == active
                 else "shadow" if path.name == shadow else "available")
        listed.append(summary(path, base, state=state, reason=reason, runtime=runtime))
    return sorted(listed, key=lambda model: (model["created"], model["version"]),
                  reverse=True)


def load(settings: Settings, version: str):
    """The analyzer of ``version``, built as the scan path uses it (with the configured
    reader, when there is one), checked and warm; ModelRefused with the reason otherwise."""
    from service.analyzers import build_version

    path = folder(settings, version)
    reason = broken_reason(path, root(settings))
    if reason:
        raise ModelRefused(version, reason)
    try:
        return build_version(settings, path)
    except APIError:
        raise
    except Exception as error:
        detail = getattr(error, "detail", None) or f"{type(error).__name__}: {error}"
        raise ModelRefused(version, detail[:500]) from error


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


def _read_json(path: Path):
    if path.stat().st_size > READ_LIMIT:
        raise ValueError(f"{path.name} is over {READ_LIMIT} bytes")
    return json.loads(path.read_text(encoding="utf-8"))


def _read_json_or_none(path: Path):
    try:
        value = _read_json(path)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
