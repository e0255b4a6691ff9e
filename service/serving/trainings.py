"""A new model from the deployment's corrections: start a training (``start``), and the job
that runs it (``run``, on Celery or the embedded pool: service/jobs/queue.py).

The base is a deployment: ``F``, or ``F+R`` where a reader decides behind the fast model (the
default: the active one). The job fine-tunes each of its models from its current weights on
every sentence the users corrected or added (corrections.py's rows, each with the context its
scan read), replaying a sample of the original training data, and fits the new reader behind
the new fast model, as a process of its own: ``python -m ml.finetune`` (the service imports
nothing of ml/, and a training's memory and threads leave with it). That process stages the
versions in a hidden folder and renames them into the models root complete, so a failed
training leaves no version. The candidate (``F'`` or ``F'+R'``) then starts its own shadow
trial (deployment.start_shadow); it never activates itself: an admin does.

One training at a time: the row's ``unfinished`` column is unique, so of two requests at
once the database refuses the second (409). A job that finds its row not queued (a
redelivered task) does nothing.

Where the job runs is the jobs' engine's business, a floor above (service/jobs/queue.py):
``start`` announces a committed training on the ``training_queued`` signal, which the engine
connects to when it is set up, so that this module imports nothing above it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from blinker import Namespace
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from service import audit
from service.analysis.finetune_files import FinetuneFileError, FinetuneRequest, FinetuneResult
from service.analysis.model_folder import Role
from service.config import current_settings
from service.db import ModelTraining, ShadowTrial, utcnow
from service.errors import APIError
from service.extensions import db
from service.serving import deployment, registry
from service.serving.corrections import contributions, training_rows
from service.serving.holder import current_analyzers
from service.serving.trials import DEFAULT_LIMIT, DEFAULT_SAMPLE_RATE

log = logging.getLogger("riskscan.trainings")

STATUSES = ("queued", "running", "done", "failed")
REPO_ROOT = Path(__file__).resolve().parents[2]
#: The characters of a failed process's reason a training keeps.
ERROR_CHARS = 1000

_signals = Namespace()
#: Sent by ``start`` with the app as sender and ``training_id``, once the queued training is
#: committed: the jobs' engine, connected for that app (service/jobs/queue.py), runs it.
training_queued = _signals.signal("riskscan.training-queued")


def start(caller, base: str | None) -> ModelTraining:
    """Queue a training from ``base`` (``F`` or ``F+R``; default: the active deployment).
    503 no model; 404 unknown base; 422 a reader alone or behind nothing, or too few
    corrections; 409 one runs."""
    settings = current_settings()
    active = deployment.deployed_version() if registry.root(settings) else None
    if active is None or current_analyzers().model is None:
        raise APIError(503, "No model is deployed, so there is none to train from.",
                       title="Model unavailable")
    name = base if base is not None else active
    base = registry.resolve(settings, name)
    fast, reader = base.fast, base.reader
    if (kind := registry.role(fast)) is not Role.FAST:
        named = "a reader" if kind is Role.READER else "the register's pair model"
        raise APIError(422, f"Model {fast.name} is {named}; a training starts from a fast "
                            "model, or a fast model and its reader (F+R).",
                       errors={"base": [f"{named[0].upper()}{named[1:]}."]})
    if reader is not None and registry.role(reader) is not Role.READER:
        raise APIError(422, f"Model {reader.name} is not a reader (it has no screen.json).",
                       errors={"base": ["Not a reader."]})
    rows = list(training_rows())
    have, need = len(rows), settings.TRAINING_MIN_CORRECTIONS
    if have < need:
        raise APIError(422, f"A training needs {need} corrected or added sentences accepted "
                            f"by a reviewer; the deployment has {have}.",
                       errors={"corrections": [f"{have} of {need}."]})
    training = ModelTraining(base_version=name, corrections=have, created_by=caller.id,
                             status="queued", unfinished=True,
                             contributors=contributions(rows))
    db.session.add(training)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise APIError(409, "A training runs already; wait for it to end.") from None
    audit.record("model_training_started", actor_id=caller.id, target_id=training.id,
                 base=name, corrections=have)
    db.session.commit()
    if not training_queued.send(current_app._get_current_object(), training_id=training.id):
        log.error("training %s is queued, but no job engine hears of trainings in this app",
                  training.id)
    return training


def run(training_id: str) -> str:
    """Run the training ``training_id`` if it is queued; its status after. In an app
    context; commits its own transactions."""
    claimed = db.session.execute(
        update(ModelTraining)
        .where(ModelTraining.id == training_id, ModelTraining.status == "queued")
        .values(status="running", started_at=utcnow())).rowcount == 1
    db.session.commit()
    training = db.session.get(ModelTraining, training_id)
    if not claimed or training is None:
        return training.status if training is not None else "gone"
    settings = current_settings()
    try:
        candidate = _train(settings, training)
    except Exception as error:  # noqa: BLE001 - any failure is the training's, recorded
        log.warning("training %s failed: %s", training_id, error)
        return _end(training_id, "failed", error=str(error)[-ERROR_CHARS:])
    figures = _figures(settings, candidate.name, training.base_version)
    # What it lost beside its base; nothing where the base's folder is gone meanwhile.
    figures["regressions"] = deployment.lost_beside(settings, candidate, training.base_version)
    _end(training_id, "done", version=candidate.name, figures=figures)
    return _shadow(training_id, candidate.name)


def _figures(settings, candidate: str, base: str) -> dict:
    """The candidate's card figures beside its base's: ``candidate`` and ``base`` for the
    fast models, and ``reader`` (the same two) where the deployment has one."""
    root = registry.root(settings)

    def of(name: str) -> dict:  # a base removed meanwhile has no figures, and no 404
        return registry.summary(root / name, root, state="available", reason=None,
                                runtime="")["figures"]

    (new_fast, new_reader), (old_fast, old_reader) = registry.parts(candidate), registry.parts(base)
    figures = {"candidate": of(new_fast), "base": of(old_fast)}
    if new_reader is not None and old_reader is not None:
        figures["reader"] = {"candidate": of(new_reader), "base": of(old_reader)}
    return figures


def _train(settings, training: ModelTraining) -> registry.Version:
    """The fine-tuning process; the candidate (``F'`` or ``F'+R'``, its folders there and
    complete), or an error saying why not. The request, and people's sentences beside it,
    go to a folder of the service's own (mode 0700, removed however it ends, a SIGKILL's
    child included), never into the models root; what the process stages there is its own, unreadable to
    others and removed however it ends (ml/finetune.py)."""
    base = registry.resolve(settings, training.base_version)
    fast, reader = base.fast, base.reader
    stamp = f"{datetime.now(UTC):%Y%m%d-%H%M%S}"
    made = tuple(f"{folder.name[:40]}-ft-{stamp}" for folder in (fast, reader)
                 if folder is not None)
    rows = "".join(json.dumps({key: value for key, value in row.items()
                               if key != "contributors"}, ensure_ascii=False) + "\n"
                   for row in training_rows(context=True, shown=True))
    db.session.commit()  # no transaction held while the process trains
    with tempfile.TemporaryDirectory(prefix="riskscan-training-") as private:
        folder = Path(private)  # mkdtemp's: its owner's only
        request = FinetuneRequest(
            base=fast, reader=reader, versions=made, replay=settings.TRAINING_REPLAY,
            epochs=settings.TRAINING_EPOCHS, documents=settings.TRAINING_DOCUMENTS,
            data_dir=Path(settings.TRAINING_DATA_DIR) if settings.TRAINING_DATA_DIR else None,
            rows=folder / "rows.jsonl")
        with os.fdopen(os.open(request.rows, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w",
                       encoding="utf-8") as file:
            file.write(rows)
        request.write(folder / "request.json")
        done = subprocess.run(
            [sys.executable, "-m", "ml.finetune", "--request", str(folder / "request.json"),
             "--result", str(folder / "result.json")],
            cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, check=False)
        versions_made = outcome(folder / "result.json", done.returncode)
    if versions_made != made:
        raise RuntimeError(f"the training process made {', '.join(versions_made)}, "
                           f"not {', '.join(made)}")
    return registry.resolve(settings, registry.JOIN.join(made))


def outcome(result_file: Path, returncode: int) -> tuple[str, ...]:
    """The versions a finished process made, from its result file; else RuntimeError with
    the reason it wrote, or, where it wrote none (killed by a signal, or it could not),
    its exit status (a signal's name where one killed it)."""
    if result_file.exists():
        try:
            result = FinetuneResult.read(result_file)
        except FinetuneFileError as error:
            raise RuntimeError(f"the training process's result is unreadable: {error}") from None
        if not result.ok:
            raise RuntimeError(result.error)
        if returncode == 0:
            return result.versions
    if returncode < 0:
        raise RuntimeError(
            f"the training process was killed ({signal.Signals(-returncode).name})")
    if returncode == 0:
        raise RuntimeError("the training process ended without a result")
    raise RuntimeError(f"the training process failed (exit status {returncode})")


def _shadow(training_id: str, version: str) -> str:
    """Start the candidate's shadow trial; why not, where one cannot start (another runs)."""
    training = db.session.get(ModelTraining, training_id)
    try:
        deployment.start_shadow(training.created_by, version, DEFAULT_SAMPLE_RATE, DEFAULT_LIMIT)
        note = "started"
    except APIError as error:
        db.session.rollback()
        note = f"not started: {error.detail}"[:300]
    db.session.execute(update(ModelTraining).where(ModelTraining.id == training_id)
                       .values(shadow=note))
    db.session.commit()
    return "done"


def with_trials(page: list[ModelTraining]) -> list[ModelTraining]:
    """The trainings, each with ``trial``: its candidate's shadow trial as it stands now
    (running, or ended and why), not the note written when it started; the note where none
    started. One query for the page."""
    versions = {training.version for training in page if training.version}
    latest: dict[str, ShadowTrial] = {}
    if versions:
        for trial in db.session.scalars(select(ShadowTrial).where(
                ShadowTrial.version.in_(versions)).order_by(ShadowTrial.id)):
            latest[trial.version] = trial  # the newest last
    for training in page:
        trial = latest.get(training.version) if training.shadow == "started" else None
        training.trial = (training.shadow if trial is None else "running"
                          if trial.ended_at is None
                          else f"ended: {trial.ended_why or 'ended by an admin'}")
    return page


def _end(training_id: str, status: str, **values) -> str:
    db.session.rollback()
    db.session.execute(update(ModelTraining).where(ModelTraining.id == training_id).values(
        status=status, unfinished=None, finished_at=utcnow(), **values))
    db.session.commit()
    return status
