"""The reader trains itself (issue #83): once the service serves a fast model and the machine
can, the cascade's reader is trained in the background at the lowest CPU priority, then
joins through the registry and the gate as an admin's activation would, with no restart.

Where it trains (READER_TRAIN=on, which ``make run`` sets): a models root whose ``current``
names the fast model it serves, torch installed, no reader in the root yet, READER_DIR not
off, and the root writable. The images never train (READER_TRAIN is off by default, and they
ship a reader or not at build time: READER_SOURCE).

One process per models root trains: the one that holds the lock of the root's hidden folder
``.reader-training/``. It runs ``python -m ml.reader`` there, niced to the idle class, which
trains and fits the reader in ``work/`` and moves it into the root whole at the end; the
child writes how far it is to ``progress.json``, this module what it is doing and why to
``status.json``. Every process reads both for the models page and /ready. A stopped
service leaves the root as it was (the child dies with its parent): the next start removes
``work/`` and trains again. A reader whose cascade loses to its fast model on the
development documents, or that the registry refuses, stays in the root, not activated, and
the models page says why.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask

from service.analysis.model_folder import (
    CURRENT,
    READER,
    ModelFolder,
    Role,
    point,
    write_whole,
)
from service.config import Settings
from service.errors import APIError
from service.serving import deployment, registry

log = logging.getLogger("riskscan.reader_training")

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The hidden folder of the models root that a background training works in.
FOLDER = ".reader-training"
STATUS, PROGRESS, LOG, LOCK, WORK = "status.json", "progress.json", "training.log", "lock", "work"
#: The cause the audit log names for the activation that ends a background training.
CAUSE = "the reader trained in the background"
#: What a person reads for each state (the models page, /ready's details for an admin).
STATES = {
    "off": "not trained in the background",
    "waiting": "waits to start",
    "training": "training",
    "activated": "trained, and the cascade serves",
    "refused": "trained, but not activated",
    "failed": "failed",
    "stopped": "stopped before it finished; the next start trains again",
}


def why_not(settings: Settings) -> str | None:
    """Why this deployment does not train its reader in the background; None: it does."""
    if not settings.READER_TRAIN:
        return "READER_TRAIN is off"
    root = registry.root(settings)
    if root is None or settings.reader_path is None:
        return "the service runs without a model, or READER_DIR is off"
    if settings.model_path != root or not (root / CURRENT).is_file():
        return "MODEL_DIR names a model folder, not a models root whose `current` names one"
    if has_reader(root):
        return "the models root has a reader already"
    if importlib.util.find_spec("torch") is None:
        return "torch is not installed here (an image ships its reader at build time)"
    if not os.access(root, os.W_OK):
        return f"the models root {root} is not writable"
    return None


def has_reader(root: Path) -> bool:
    """Whether the root points at a reader, or holds a reader folder (one an earlier
    background training left refused counts: it is not trained twice)."""
    if (root / READER).exists():
        return True
    return any(path.is_dir() and registry.VERSION.fullmatch(path.name)
               and ModelFolder(path).role is Role.READER for path in root.iterdir())


def status(settings: Settings) -> dict:
    """What the models page and /ready say: ``state`` and its words, with the version, how
    far (``stage``, ``done`` of ``total``, ``epoch`` of ``epochs``), when, and why not."""
    root = registry.root(settings)
    folder = root / FOLDER if root is not None else None
    said = _read(folder / STATUS) if folder is not None else {}
    if not said:
        reason = why_not(settings)
        said = {"state": "off", "reason": reason} if reason else {
            "state": "waiting", "reason": "the service has not started it yet"}
    if said.get("state") == "training" and folder is not None:
        if not _held(folder / LOCK):  # its process is gone: nothing trains it now
            said = {**said, "state": "stopped"}
        said["progress"] = {key: value for key, value in _read(folder / PROGRESS).items()
                            if key in ("stage", "done", "total", "epoch", "epochs",
                                       "updated_at")}
    return {**said, "words": STATES.get(said.get("state"), said.get("state"))}


def start(app: Flask, settings: Settings) -> threading.Thread | None:
    """Start the background training where ``why_not`` finds no reason against it; the
    thread that supervises it, None where it does not train."""
    reason = why_not(settings)
    if reason is not None:
        log.info("the reader is not trained in the background: %s", reason)
        return None
    thread = threading.Thread(target=supervise, args=(app, settings),
                              name="riskscan-reader-training", daemon=True)
    thread.start()
    return thread


def supervise(app: Flask, settings: Settings) -> str:
    """Train, move in and activate the reader; the state it ended in. Returns at once
    ("elsewhere") when another process of this models root holds the lock."""
    root = registry.root(settings)
    folder = root / FOLDER
    folder.mkdir(exist_ok=True)
    with open(folder / LOCK, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another process of this models root trains the reader")
            return "elsewhere"
        if why_not(settings) is not None:  # it finished in that process meanwhile
            return "off"
        shutil.rmtree(folder / WORK, ignore_errors=True)  # what a stopped run left
        (folder / PROGRESS).unlink(missing_ok=True)
        version = _new_version(root)
        began = _now()
        returncode = _train(settings, root, folder, version, began)
        if returncode != 0 or not (root / version).is_dir():
            _write(folder, state="failed", version=version, started_at=began,
                   finished_at=_now(), reason=f"python -m ml.reader exited {returncode}: "
                                              + _last_line(folder / LOG))
            return "failed"
        state, reason = _activate(app, root, version)
        _write(folder, state=state, version=version, started_at=began, finished_at=_now(),
               reason=reason)
        return state


def command(root: Path, folder: Path, version: str, flags: list[str]) -> list[str]:
    """``python -m ml.reader`` training ``version`` for ``root`` in ``folder``'s ``work/``,
    saying how far it is in its ``progress.json``, at the idle priority and dying with this
    process (the child sets both itself: no code runs between fork and exec in a process of
    threads); bench.reader_training runs the same."""
    return [sys.executable, "-m", "ml.reader", "--version", version, "--models", str(root),
            "--staging", str(folder / WORK), "--progress", str(folder / PROGRESS),
            "--no-set-reader", "--lowest-priority", str(os.getpid()), *flags]


def _train(settings: Settings, root: Path, folder: Path, version: str, began: str) -> int:
    """The training (``command``), its output in ``training.log``; its exit status."""
    argv = command(root, folder, version, shlex.split(settings.READER_TRAIN_ARGS))
    log.info("training the reader %s in the background: %s", version, shlex.join(argv))
    with open(folder / LOG, "w") as output:
        child = subprocess.Popen(argv, cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                                 stdout=output, stderr=subprocess.STDOUT)
        _write(folder, state="training", version=version, started_at=began, pid=child.pid,
               reason="trains at the lowest CPU priority; the cascade serves when it "
                      "finishes and passes the gate")
        return child.wait()


def _activate(app: Flask, root: Path, version: str) -> tuple[str, str]:
    """The deployment's fast model with the new reader, through the gate, audited; then the
    root's ``reader`` file, so that the next start reads through it too."""
    with app.app_context():
        fast, _ = registry.parts(deployment.deployed_version() or "")
        cascade = registry.with_reader(fast, version)
        try:
            deployment.activate(None, cascade, cause=CAUSE)
        except APIError as error:
            log.warning("the reader %s trained, but was not activated: %s", version,
                        error.detail)
            return "refused", error.detail
        finally:
            from service.extensions import db

            db.session.remove()
    point(root, version, READER)
    log.info("the cascade %s serves", cascade)
    return "activated", f"the cascade {cascade} serves since {_now()}"


def _new_version(root: Path) -> str:
    """mpnet-<UTC time>, as `make reader` names its readers."""
    version = f"mpnet-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    return version if not (root / version).exists() else f"{version}-{os.getpid()}"


def _write(folder: Path, **body) -> None:
    write_whole(folder / STATUS, json.dumps(body))


def _read(path: Path) -> dict:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _held(path: Path) -> bool:
    """Whether a process holds the lock at ``path`` (this one's own thread included)."""
    try:
        with open(path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(lock, fcntl.LOCK_UN)
            return False
    except BlockingIOError:
        return True
    except OSError:
        return False


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "no output"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
