"""The shadow trial: a candidate version reads a sample of the scans users send, beside the
active model, after their answers are returned, and a report says how the two agree.

A trial lives in the database (a ``shadow_trials`` row, and the deployment row's shadow
columns while it runs), so that every process follows it as it follows the active version
(service/serving/deployment.py: ``sync`` calls ``follow``) and loads the candidate beside its model.
A scan hands its text and its findings to ``offer`` once it is stored: each process has one
shadow thread and a queue of QUEUE scans; a sampled scan that finds the queue full is
skipped and counted, so the shadow never makes a scan wait. The shadow's thread runs at the
lowest CPU priority (ONNX Runtime's own threads do not: the rate and the queue bound it),
reads the scan's sentences with the candidate at the scan's operating point,
and stores one ``shadow_readings`` row: the sentences, how many got the same label, and each
that did not with both labels and risk scores, quoted: the row goes with its scan (a
foreign key), deleted or with its user. Stored findings are never touched. The
count of scans read is kept under the deployment row's lock, so the limit holds over every
process; the comparison that reaches it ends the trial. A trial also ends on DELETE and when
its version is activated; the candidate then leaves memory. A version's latest trial stays
its report after it ends.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import threading
import weakref
from collections import Counter
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from service import audit
from service.analysis.labels import NONE
from service.analysis.reading import placed
from service.api import lock_row
from service.db import ModelDeployment, ScanFinding, ShadowComparison, ShadowTrial, utcnow
from service.errors import APIError
from service.extensions import db
from service.serving.swap import drop

log = logging.getLogger("riskscan.shadow")

#: A trial reads this share of the scans unless told otherwise: ≈ the extra CPU it costs.
DEFAULT_SAMPLE_RATE = 0.2
DEFAULT_LIMIT = 200
MAX_LIMIT = 5000
#: Sampled scans waiting for the shadow, per process; past it a sampled scan is skipped.
QUEUE = 4
#: One-sided findings the report lists (newest first); ``total`` counts them all.
SHOWN = 100


@dataclass(frozen=True)
class Trial:
    """The trial a process follows, with the candidate it loaded."""

    id: int
    version: str
    sample_rate: float
    model: object


class Shadow:
    """One app's side of the trial: the trial it follows, the queue and the shadow thread
    (started with the first trial, waiting on the queue, holding the app by a weak
    reference only)."""

    def __init__(self, app: Flask):
        self._app = weakref.ref(app)
        self.trial: Trial | None = None
        self.failed: int | None = None  # the trial this process could not load
        self._queue: queue.Queue = queue.Queue(QUEUE)
        self._skipped = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def run(self, trial: Trial) -> None:
        with self._lock:
            self.trial, self._skipped = trial, 0
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="riskscan-shadow",
                                                daemon=True)
                self._thread.start()

    def stop(self) -> Trial | None:
        """Follow no trial; the one followed before, whose model the caller frees."""
        with self._lock:
            trial, self.trial = self.trial, None
        return trial

    def offer(self, scan_id: str, text: str, min_score: float | None, model,
              findings) -> None:
        """Hand a stored scan to the shadow, if sampled; never waits."""
        trial = self.trial
        if trial is None or random.random() >= trial.sample_rate:
            return
        try:
            self._queue.put_nowait((trial, scan_id, text, min_score, model, findings))
        except queue.Full:
            with self._lock:
                self._skipped += 1

    def drain(self) -> None:
        """Wait until every scan handed over is read (tests, the bench)."""
        self._queue.join()

    def _work(self) -> None:
        try:  # this thread only (Linux): the scans' threads keep their priority
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError):
            pass
        while True:
            item = self._queue.get()
            try:
                app = self._app()
                if app is None:
                    return
                if item[0] is self.trial:  # handed over before the trial ended: dropped
                    with app.app_context():
                        self._read(app, *item)
            except Exception:
                log.warning("the shadow model could not read scan %s", item[1], exc_info=True)
            finally:
                app = item = None  # a trial that ended must not stay alive in this frame
                self._queue.task_done()

    def _read(self, app: Flask, trial: Trial, scan_id: str, text: str,
              min_score: float | None, model, findings) -> None:
        inputs = placed(text)
        sentences = [item.sentence for item in inputs]
        shadow = [_risk(*labelled) for labelled in trial.model.classify(
            inputs, min_score=min_score)]
        found = {finding.start: (finding.category, finding.score) for finding in findings}
        # The active model's risk of a sentence it left out, for the few the candidate found.
        missed = [index for index, sentence in enumerate(sentences)
                  if sentence.start not in found and shadow[index][0] != NONE]
        scored = dict(zip(missed, (_risk(*labelled) for labelled in model.classify(
            [inputs[index] for index in missed],
            min_score=min_score))))
        disagreements = []
        for index, sentence in enumerate(sentences):
            active = found.get(sentence.start) or scored.get(index) or (NONE, None)
            if active[0] != shadow[index][0]:
                disagreements.append({
                    "sentence": sentence.text, "start": sentence.start, "end": sentence.end,
                    "active": {"category": active[0], "score": active[1]},
                    "shadow": {"category": shadow[index][0], "score": shadow[index][1]}})
        self._store(app, trial, ShadowComparison(
            trial_id=trial.id, scan_id=scan_id, active_version=model.version,
            sentences=len(sentences), agreed=len(sentences) - len(disagreements),
            disagreements=disagreements))

    def _store(self, app: Flask, trial: Trial, comparison: ShadowComparison) -> None:
        """Count the comparison under the deployment row's lock: at the limit, the trial ends.
        A scan deleted while it was read leaves nothing: its comparison would quote it (the
        foreign key refuses it), and it is not counted."""
        with self._lock:
            skipped, self._skipped = self._skipped, 0
        try:
            lock_row(ModelDeployment, ModelDeployment.ROW)
            row = _locked(ShadowTrial, trial.id)
            if row is None or row.ended_at is not None or row.read >= row.scan_limit:
                db.session.rollback()
                return
            db.session.add(comparison)
            row.read, row.skipped = row.read + 1, row.skipped + skipped
            ended = row.read >= row.scan_limit
            if ended:
                close(row, "limit", actor_id=None)
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            log.info("scan %s was deleted while the shadow model read it", comparison.scan_id)
            return
        finally:
            db.session.close()
        if ended:
            forget(app)


def shadow_of(app: Flask) -> Shadow:
    return app.extensions.setdefault("riskscan.shadow", Shadow(app))


def offer(app: Flask, scan, text: str, min_score: float | None, model, findings) -> None:
    """After a model's scan is stored: the trial's shadow may read it too."""
    shadow = app.extensions.get("riskscan.shadow")
    if shadow is not None:
        shadow.offer(scan.id, text, min_score, model, findings)


def opened(actor_id: str, row: ModelDeployment, version: str, sample_rate: float,
           limit: int) -> ShadowTrial:
    """Start a trial of ``version`` in this transaction (the caller holds ``row``'s lock and
    commits): its row, the deployment row's shadow columns and the audit event."""
    trial = ShadowTrial(version=version, sample_rate=sample_rate, scan_limit=limit, read=0,
                        skipped=0, started_at=utcnow(), started_by=actor_id)
    db.session.add(trial)
    db.session.flush()
    row.shadow_version, row.shadow_sample_rate = version, sample_rate
    row.shadow_limit, row.shadow_started_at = limit, trial.started_at
    audit.record("model_shadow_started", actor_id=actor_id, version=version,
                 sample_rate=sample_rate, limit=limit)
    return trial


def running(version: str | None = None) -> ShadowTrial | None:
    """The trial that runs (of ``version`` only, when given), under a lock when the
    transaction holds the deployment row's."""
    statement = select(ShadowTrial).where(ShadowTrial.ended_at.is_(None))
    if version is not None:
        statement = statement.where(ShadowTrial.version == version)
    return db.session.scalars(statement.order_by(ShadowTrial.id.desc()).limit(1)
                              .with_for_update()
                              .execution_options(populate_existing=True)).first()


def close(trial: ShadowTrial, why: str, *, actor_id: str | None) -> None:
    """End ``trial`` in this transaction (the caller holds the deployment row's lock and
    commits); the processes let its model go when they follow the row."""
    trial.ended_at, trial.ended_why = utcnow(), why
    row = db.session.get(ModelDeployment, ModelDeployment.ROW)
    row.shadow_version = row.shadow_sample_rate = None
    row.shadow_limit = row.shadow_started_at = None
    audit.record("model_shadow_ended", actor_id=actor_id, version=trial.version, why=why,
                 read=trial.read)


def follow(app: Flask, row: ModelDeployment | None, load) -> None:
    """Bring this app to the database's trial: load its candidate (``load(version)``: the
    checked analyzer), or let the ended one go. ``sync`` calls it on every tick."""
    shadow = shadow_of(app)
    if row is None or row.shadow_version is None:
        if shadow.trial is not None:
            forget(app)
        return
    with app.app_context():
        try:
            trial = running(row.shadow_version)
            key = (trial.id, trial.version, trial.sample_rate) if trial else None
        finally:
            db.session.close()
    if key is None or (shadow.trial is not None and shadow.trial.id == key[0]):
        return
    if shadow.trial is not None:
        forget(app)
    if shadow.failed == key[0]:
        return  # this process cannot load it; the log said why
    try:
        model = load(key[1])
    except APIError as error:
        shadow.failed = key[0]
        log.warning("cannot follow the shadow trial of %s: %s", key[1], error.detail)
        return
    shadow.run(Trial(*key, model))
    log.info("shadow model %s reads %.0f%% of the scans", key[1], key[2] * 100)


def forget(app: Flask) -> None:
    """Follow no trial here, and let its model leave memory."""
    trial = shadow_of(app).stop()
    if trial is not None:
        drop(trial.model, keep=app.extensions["riskscan.analyzers"].model)
        log.info("shadow model %s ended here", trial.version)


def report(version: str) -> dict:
    """The report of ``version``'s latest trial; 404 when it never had one."""
    trial = db.session.scalars(select(ShadowTrial).where(ShadowTrial.version == version)
                               .order_by(ShadowTrial.id.desc()).limit(1)).first()
    if trial is None:
        raise APIError(404, f"Model {version} has had no shadow trial.")
    comparisons = select(ShadowComparison).where(ShadowComparison.trial_id == trial.id)
    sentences, agreed = db.session.execute(
        select(func.coalesce(func.sum(ShadowComparison.sentences), 0),
               func.coalesce(func.sum(ShadowComparison.agreed), 0))
        .where(ShadowComparison.trial_id == trial.id)).one()
    differ: dict[tuple[str, int], dict] = {}
    one_sided = []
    for comparison in db.session.scalars(comparisons.order_by(ShadowComparison.id.desc())):
        for item in comparison.disagreements:
            differ[comparison.scan_id, item["start"]] = item
            if NONE in (item["active"]["category"], item["shadow"]["category"]):
                one_sided.append({"scan_id": comparison.scan_id, **item})
    return {"version": trial.version, "running": trial.ended_at is None,
            "sample_rate": trial.sample_rate, "limit": trial.scan_limit,
            "started_at": trial.started_at, "started_by": trial.started_by,
            "ended_at": trial.ended_at, "ended_why": trial.ended_why,
            "scans": {"read": trial.read, "skipped": trial.skipped},
            "sentences": int(sentences), "agreed": int(agreed),
            "agreement": round(agreed / sentences, 4) if sentences else None,
            "category_differs": len(differ) - len(one_sided),
            "one_sided": {"total": len(one_sided), "items": one_sided[:SHOWN]},
            "corrections": _corrections(trial, differ)}


def _corrections(trial: ShadowTrial, differ: dict) -> dict:
    """How often each model gave the label users corrected a finding of a read scan to:
    the active one's is the finding's, the candidate's the same unless it read it otherwise."""
    corrected = db.session.execute(
        select(ScanFinding.scan_id, ScanFinding.start, ScanFinding.category,
               ScanFinding.corrected_category, ScanFinding.added_by_user)
        .where(ScanFinding.corrected_category.is_not(None),
               ScanFinding.scan_id.in_(select(ShadowComparison.scan_id)
                                       .where(ShadowComparison.trial_id == trial.id)))).all()
    agrees: Counter = Counter()
    for scan_id, start, category, correction, added in corrected:
        if added:  # a risk a person added: the active model said none
            category = NONE
        shadow = differ.get((scan_id, start), {"shadow": {"category": category}})
        agrees["active"] += category == correction
        agrees["shadow"] += shadow["shadow"]["category"] == correction
    return {"findings": len(corrected), "active_agrees": agrees["active"],
            "shadow_agrees": agrees["shadow"]}


def _risk(label: str, score: float) -> tuple[str, float]:
    """(label, risk score) of classify's (label, score): a ``none`` is scored 1 − risk."""
    return label, round(score if label != NONE else 1 - score, 4)


def _locked(model, id_):
    return db.session.scalars(select(model).where(model.id == id_).with_for_update()
                              .execution_options(populate_existing=True)).one_or_none()
