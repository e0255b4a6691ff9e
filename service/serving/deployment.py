"""Which model the deployment serves: one row in the database, and every process following it.

An activation loads and checks the candidate beside the running model (registry.load), then,
under the row's lock, makes it the active version and audits who changed it from what to
what; the process that was asked swaps at once, every other process (the API's, the Celery
workers') within MODEL_SYNC_S seconds: its follower thread calls ``sync``, which loads the
row's version when the row's generation moves. A candidate that fails to load or check is
refused and nothing changes. Rollback returns to the version active before, from a short
history kept in the row, passing over versions that can no longer serve (a folder deleted,
a model refused). Loading happens with no row lock held: a change that lands while a
candidate loads wins, and the slower request gets a 409.

A scan holds the analyzer it started with (service/serving/swap.py: ``install``), so a swap
never touches a scan in flight and each scan's model_version names the model that made it.
A version is a fast model ``F`` or the cascade ``F+R`` (service/registry.py): all of this
applies to either, and the row, the audit and rollback keep the whole string.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import weakref

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from service import audit
from service.analysis.model_folder import ModelFolder, Role
from service.api import lock_row
from service.config import Settings, current_settings
from service.db import ModelDeployment, utcnow
from service.errors import APIError
from service.extensions import db
from service.serving import registry, trials
from service.serving.holder import Analyzers, current_analyzers
from service.serving.regressions import cascade_lost, regressions
from service.serving.swap import drop, install

log = logging.getLogger("riskscan.deployment")

ROW = ModelDeployment.ROW
#: Versions rollback can return to, newest last.
HISTORY = 10
DEADLOCK = 1213  # MySQL's ER_LOCK_DEADLOCK
#: app.extensions' record of the folders whose load or check failed in this process, with the
#: reason: the registry lists them as broken until one loads. Per app, not per module: an
#: app's refusals are its own models root's.
REFUSED = "riskscan.refused_models"


def init_app(app: Flask, settings: Settings) -> None:
    """Name the configured model's version, add /ready's check, and start the follower."""
    analyzers: Analyzers = app.extensions["riskscan.analyzers"]
    if analyzers.model is not None:
        analyzers.deployed = registry.configured_version(settings, analyzers.model)
    app.extensions.setdefault("riskscan.readiness", {})["deployment"] = lambda: readiness(app)
    if settings.MODEL_SYNC_S > 0 and settings.model_path is not None:
        threading.Thread(target=_follow, args=(weakref.ref(app), settings.MODEL_SYNC_S),
                         name="riskscan-model-follower", daemon=True).start()


def current_state() -> ModelDeployment | None:
    """The deployment's row as the database has it now (None: nothing was ever activated)."""
    return db.session.scalars(select(ModelDeployment).where(ModelDeployment.id == ROW)
                              .execution_options(populate_existing=True)).one_or_none()


def active_version(row: ModelDeployment | None, analyzers: Analyzers) -> str | None:
    """The active version: the row's, or before any activation the configured one."""
    return row.active_version if row is not None else analyzers.deployed


def deployed_version() -> str | None:
    """The version the deployment serves (``F`` or ``F+R``), as the database has it."""
    return active_version(current_state(), current_analyzers())


def registry_models(settings: Settings) -> list[dict]:
    """The registry's list, with the states this deployment gives its versions, and each
    fast model's regressions as activation's gate reads them (lost_beside)."""
    analyzers = current_analyzers()
    row = current_state()
    active = active_version(row, analyzers)
    history = list(row.previous_versions) if row is not None else []
    listed = registry.models(settings, active=active,
                             shadow=row.shadow_version if row is not None else None,
                             refused=_refused(), runtime=runtime(settings, analyzers))
    for model in listed:
        if model["role"] is not Role.FAST or model["state"] not in ("available", "shadow"):
            continue
        try:
            model["regressions"] = lost_beside(
                settings, registry.resolve(settings, model["version"]), active, history)
        except APIError:  # a folder the registry will not read: listed as it said
            pass
    return listed


def runtime(settings: Settings, analyzers: Analyzers) -> str:
    """How this process runs a model: runtime, precision and device."""
    device = str(getattr(analyzers.model, "device", None) or (
        "cuda" if settings.MODEL_DEVICE == "cuda" else "cpu"))
    if device.startswith("cuda"):
        return "torch fp16 on cuda"
    engine = "torch" if settings.MODEL_RUNTIME == "torch" else "onnx"
    precision = "int8" if settings.MODEL_QUANTIZE == "int8" else "fp32"
    return f"{engine} {precision} on cpu"


def activate(actor_id: str | None, version: str, override: frozenset[str] = frozenset(),
             *, cause: str | None = None) -> tuple[ModelDeployment, float]:
    """Make ``version`` the active model of the deployment; (the row, seconds the load and
    check took). 404 unknown version, 409 active already or raced, or a regression beside
    the active model that ``override`` does not name (regressions.py), 422 refused.
    ``actor_id`` None with a ``cause``: the service itself activates (a reader trained in
    the background, reader_training.py), audited with that cause."""
    settings = current_settings()
    candidate = registry.resolve(settings, version)
    row = current_state()
    active, generation = active_version(row, current_analyzers()), _generation(row)
    if version == active:
        raise APIError(409, f"Model {version} is the active version already.")
    lost = lost_beside(settings, candidate, active)
    _gate(version, lost, override, active)
    db.session.close()  # no connection held while the candidate loads
    model, seconds = _load(settings, candidate)
    row = _locked_row(active)
    _unchanged(row, generation)
    if row.active_version:
        row.previous_versions = [*row.previous_versions, row.active_version][-HISTORY:]
    return _switch(actor_id, row, model, version, "model_activated",
                   **_overridden(lost, override), **({"cause": cause} if cause else {})
                   ), seconds


def _gate(version: str, lost: dict[str, str], override: frozenset[str], active) -> None:
    """A 409 naming what ``version`` lost that ``override`` does not name."""
    unnamed = sorted(set(lost) - override)
    if unnamed:
        raise APIError(409, f"Model {version} lost ground beside the active {active}: "
                            + "; ".join(lost[name] for name in unnamed) + ". It serves "
                            "only with an override that names each: "
                            f"{{\"override\": {json.dumps(sorted(lost))}}}.",
                       errors={"override": unnamed})


def _overridden(lost: dict[str, str], override: frozenset[str]) -> dict:
    """The audit event's record of the regressions an admin accepted, if any."""
    accepted = sorted(set(lost) & override)
    return {"override": accepted} if accepted else {}


def lost_beside(settings: Settings, new: registry.Version, active: str | None,
                history: list[str] | None = None) -> dict[str, str]:
    """What ``new`` lost (regressions.py) beside the active version and beside each version
    the deployment served before it (its history): each fast model beside the other, and
    each reader beside the other where both have one. Beside the history too, so that steps
    each under the gate's limits cannot add up to a loss it would have refused in one, and
    a version activated with an override is no new yardstick (issue #75). The words name
    the yardstick. ``history``: the deployment's, when the caller read it already."""
    if history is None:
        row = current_state()
        history = list(row.previous_versions) if row is not None else []
    lost: dict[str, list[str]] = {}
    if new.reader is not None:  # a reader is held to its own fast model first
        for name, words in cascade_lost(ModelFolder(new.reader).screen() or {}).items():
            lost.setdefault(name, []).append(words)
    for yardstick in dict.fromkeys([active, *reversed(history)]):
        if yardstick is None or yardstick == new.name:
            continue
        try:
            old = registry.resolve(settings, yardstick)
        except APIError:  # the version's folder is gone: nothing to compare with
            continue
        found = regressions(registry.metrics(new.fast), registry.metrics(old.fast))
        if new.reader is not None and old.reader is not None:
            found = {**regressions(registry.metrics(new.reader), registry.metrics(old.reader)),
                     **found}
        said = "" if yardstick == active else f" (beside {yardstick}, served before)"
        for name, words in found.items():
            lost.setdefault(name, []).append(words + said)
    return {name: "; ".join(words) for name, words in lost.items()}


def rollback(actor_id: str, override: frozenset[str] = frozenset()
             ) -> tuple[ModelDeployment, float, list[dict]]:
    """Return to the newest earlier version that serves: (the row, seconds its load and
    check took, the newer ones passed over with why). A version whose folder is gone, or
    that is refused, is passed over and leaves the history with the ones after it; a
    history of which none serves is a 409 naming each, and nothing changes (a folder put
    back makes it serve again). 409 too when there is none, or raced, or the version lost
    ground that ``override`` does not name: the gate of activation holds here too."""
    settings = current_settings()
    row = current_state()
    if row is None or not row.previous_versions:
        raise APIError(409, "There is no earlier version to roll back to.")
    history, active, generation = list(row.previous_versions), row.active_version, row.generation
    skipped = []
    for index in reversed(range(len(history))):
        version = history[index]
        try:
            if version == active:
                raise APIError(409, "it is the active version")
            candidate = registry.resolve(settings, version)
        except APIError as error:
            skipped.append({"version": version, "reason": _why_not(error)})
            continue
        lost = lost_beside(settings, candidate, active)
        _gate(version, lost, override, active)
        db.session.close()  # no connection held while the candidate loads
        try:
            model, seconds = _load(settings, candidate)
            break
        except APIError as error:
            skipped.append({"version": version, "reason": _why_not(error)})
    else:
        raise APIError(409, "No earlier version can serve, so nothing changed: " + "; ".join(
            f"{item['version']}: {item['reason']}" for item in skipped))
    accepted = _overridden(lost, override)
    row = _locked_row(active)
    _unchanged(row, generation)
    row.previous_versions = history[:index]
    passed = {"skipped": [item["version"] for item in skipped]} if skipped else {}
    return (_switch(actor_id, row, model, version, "model_rolled_back", **passed, **accepted),
            seconds, skipped)


def _why_not(error: APIError) -> str:
    """Why a version of the history cannot serve, in the words of rollback's answer."""
    if isinstance(error, registry.ModelRefused):
        return error.reason
    return "not in the models root" if error.status == 404 else error.detail


def sync(app: Flask) -> bool:
    """Bring this process to the database's active version (True when it swapped) and to
    its shadow trial (service/trials.py: ``follow``). The follower thread calls it every
    MODEL_SYNC_S seconds; tests call it directly."""
    analyzers: Analyzers = app.extensions["riskscan.analyzers"]
    with app.app_context():
        try:
            row = current_state()
        finally:
            db.session.close()
        swapped = _follow_active(app, analyzers, row)
        settings = current_settings(app)
        trials.follow(app, row, lambda version: _load(
            settings, registry.resolve(settings, version))[0])
    return swapped


def _follow_active(app: Flask, analyzers: Analyzers, row: ModelDeployment | None) -> bool:
    if row is None or row.generation <= analyzers.generation:
        return False
    if row.active_version == analyzers.deployed:
        with analyzers._swapping:
            analyzers.generation = max(analyzers.generation, row.generation)
        return False
    if analyzers.sync_error and analyzers.sync_error[0] == row.generation:
        return False  # it failed for this generation: try again when the row moves
    try:
        settings = current_settings(app)
        model, _ = _load(settings, registry.resolve(settings, row.active_version))
    except APIError as error:
        analyzers.sync_error = (row.generation, error.detail)
        log.warning("cannot follow the deployment to %s: %s", row.active_version,
                    error.detail)
        return False
    analyzers.sync_error = None
    return install(app, model, row.active_version, row.generation)


def start_shadow(actor_id: str, version: str, sample_rate: float, limit: int):
    """Start the shadow trial of ``version`` (service/trials.py), loaded and checked as an
    activation is. 404 unknown version, 409 it is active or a trial runs, 422 refused."""
    settings = current_settings()
    candidate = registry.resolve(settings, version)
    analyzers = current_analyzers()
    row = current_state()
    _may_shadow(row, version, active_version(row, analyzers))
    db.session.close()
    model, _ = _load(settings, candidate)
    try:
        row = _locked_row(active_version(row, analyzers))
        _may_shadow(row, version, row.active_version)
        trial = trials.opened(actor_id, row, version, sample_rate, limit)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        drop(model, keep=analyzers.model)
        raise
    app = current_app._get_current_object()
    trials.forget(app)
    trials.shadow_of(app).run(trials.Trial(trial.id, version, sample_rate, model))
    return trial


def end_shadow(actor_id: str, version: str) -> None:
    """End the shadow trial of ``version``; 404 when none runs, 409 when another's does."""
    registry.resolve(current_settings(), version)
    if not lock_row(ModelDeployment, ROW) or (trial := trials.running()) is None:
        db.session.rollback()
        raise APIError(404, f"No shadow trial runs; model {version} has none to end.")
    if trial.version != version:
        db.session.rollback()
        raise APIError(409, f"The shadow trial that runs is of {trial.version}, "
                            f"not of {version}.")
    trials.close(trial, "deleted", actor_id=actor_id)
    db.session.commit()
    trials.forget(current_app._get_current_object())


def _may_shadow(row: ModelDeployment | None, version: str, active: str | None) -> None:
    if version == active:
        db.session.rollback()
        raise APIError(409, f"Model {version} is the active version; a shadow trial "
                            "reads a candidate beside it.")
    if row is not None and row.shadow_version is not None:
        db.session.rollback()
        raise APIError(409, f"The shadow trial of {row.shadow_version} runs; end it "
                            "before another starts.")


def readiness(app: Flask) -> dict:
    """/ready's ``deployment`` check: the active version, the one this process serves, and
    why it could not follow (admins see the names; anyone whether it follows). A process
    that cannot follow stays ready: its model still serves."""
    analyzers: Analyzers = app.extensions["riskscan.analyzers"]
    try:
        active = active_version(current_state(), analyzers)
    except Exception:  # noqa: BLE001 - the database check reports an unreachable database
        db.session.rollback()
        active = None
    check = {"ok": True, "following": active == analyzers.deployed, "active": active,
             "serving": analyzers.deployed, "generation": analyzers.generation}
    if analyzers.sync_error:
        check["error"] = analyzers.sync_error[1]
    return check


def _load(settings: Settings, candidate: registry.Version):
    """(the checked analyzer of ``candidate``, seconds); a refusal is remembered."""
    began = time.perf_counter()
    try:
        model = registry.load(settings, candidate)
    except registry.ModelRefused as refused:
        if refused.folder:  # a combination refused leaves its folders' states alone
            _refused()[refused.folder] = refused.reason
        raise
    for folder in (candidate.fast, candidate.reader):
        if folder is not None:
            _refused().pop(folder.name, None)
    return model, time.perf_counter() - began


def _refused() -> dict[str, str]:
    return current_app.extensions.setdefault(REFUSED, {})


def _generation(row: ModelDeployment | None) -> int:
    return row.generation if row is not None else 0


def _locked_row(active: str | None) -> ModelDeployment:
    """The deployment's row under this transaction's lock, made on first use. Two first
    uses at once: one insert wins; the other is a duplicate key, or on MySQL a deadlock
    (both held the gap where the row goes), and locks the winner's row instead."""
    if not lock_row(ModelDeployment, ROW):
        db.session.add(ModelDeployment(id=ROW, active_version=active or "",
                                       previous_versions=[], generation=0))
        try:
            db.session.flush()
        except (IntegrityError, OperationalError) as error:
            if isinstance(error, OperationalError) and error.orig.args[:1] != (DEADLOCK,):
                raise
            db.session.rollback()
            lock_row(ModelDeployment, ROW)
    return db.session.scalars(select(ModelDeployment).where(ModelDeployment.id == ROW)
                              .with_for_update()
                              .execution_options(populate_existing=True)).one()


def _unchanged(row: ModelDeployment, generation: int) -> None:
    if row.generation != generation:
        db.session.rollback()
        raise APIError(409, "The active model changed while this one was loading; "
                            "list the models and ask again.")


def _switch(actor_id: str | None, row: ModelDeployment, model, version: str, event: str,
            **details) -> ModelDeployment:
    """Write the change and its audit event, commit, then swap this process's model."""
    previous, generation = row.active_version or None, row.generation + 1
    row.active_version, row.generation = version, generation
    row.changed_at, row.changed_by = utcnow(), actor_id
    audit.record(event, actor_id=actor_id, **{"from": previous, "to": version,
                                               "generation": generation}, **details)
    trial = trials.running(version) if row.shadow_version == version else None
    if trial is not None:  # the candidate serves now: its trial is over
        trials.close(trial, "activated", actor_id=actor_id)
    db.session.commit()
    app = current_app._get_current_object()
    install(app, model, version, generation)
    if trial is not None:
        trials.forget(app)
    return row


def _follow(app_ref, interval: float) -> None:
    """The follower thread: every ``interval`` seconds, while the app lives, sync. The first
    waits one interval: the process has just loaded its model, and ``python -m service``
    migrates the database after building the app. A database without the deployment's
    table yet (not migrated) is a line in the log, not a traceback."""
    while True:
        time.sleep(interval)
        app = app_ref()
        if app is None:
            return
        try:
            sync(app)
        except SQLAlchemyError as error:
            log.warning("could not read the model deployment: %s",
                        str(error).splitlines()[0])
        except Exception:
            log.warning("could not read the model deployment", exc_info=True)
        del app
