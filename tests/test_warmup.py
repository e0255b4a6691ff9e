"""Ready means warm: /ready is 503 until the model has classified the warm-up's text.

A process that answered /ready at once got the first burst of scans cold (seconds each, for
what only a process's first calls do). These tests hold the model's classify at its first
call, which is the warm-up's, and watch /ready and the warm-up's own record around it: no
timing, only the warm-up's signals (its Event, its count of sentences classified).
"""

from __future__ import annotations

import dataclasses
import threading
import weakref

import pytest

from service import create_app
from service.extensions import db
from service.jobs import worker
from service.serving import loading
from service.serving import warmup as warmup_module
from tests.helpers import assert_problem


class HeldClassify:
    """The model's classify, held at its first call until ``release`` (or failing there);
    counts the sentences it classified."""

    def __init__(self, model, monkeypatch, *, fail: bool = False):
        self.entered = threading.Event()
        self.release = threading.Event()
        self.sentences = 0
        self.fail = fail
        self._classify = model.classify
        monkeypatch.setattr(model, "classify", self)

    def __call__(self, sentences, **options):
        self.entered.set()
        assert self.release.wait(600), "the test never released the warm-up"
        if self.fail:
            raise RuntimeError("the classifier failed on the warm-up's text")
        self.sentences += len(sentences)
        return self._classify(sentences, **options)


@pytest.fixture
def cold_start(app, settings, scan_model_dir, monkeypatch):
    """``start(fail=False)``: an app on the test model as a fresh process builds it, its
    warm-up held at the model's first classify (on the migrated database of ``app``)."""
    settings = dataclasses.replace(settings, MODEL_DIR=str(scan_model_dir))
    model, error = loading.load_model(settings)
    assert error is None, error
    # The model is loaded once per process and warmed once: forget that it was.
    monkeypatch.setattr(warmup_module, "_warmups", weakref.WeakKeyDictionary())
    started = []

    def start(*, fail: bool = False):
        held = HeldClassify(model, monkeypatch, fail=fail)
        cold = create_app(settings)
        started.append((cold, held))
        assert held.entered.wait(600), "the warm-up never classified anything"
        return cold, held

    yield start
    for cold, held in started:
        held.release.set()
        cold.extensions["riskscan.warmup"].done.wait(600)
        with cold.app_context():
            db.engine.dispose()


def test_ready_is_503_until_the_warm_up_has_classified_text(cold_start, accounts):
    _, admin = accounts.user(role="admin")
    cold, held = cold_start()
    client = cold.test_client()
    warmup = cold.extensions["riskscan.warmup"]

    body = assert_problem(client.get("/ready"), 503)
    assert body["detail"] == "Not ready: warmup unavailable."
    assert body["checks"]["warmup"] == {"ok": False, "done": False}
    assert body["checks"]["analyzers"]["ok"] is True  # loaded, not yet warm
    assert client.get("/ready", headers=admin).get_json()["checks"]["warmup"] == \
        {"ok": False, "done": False, "sentences": 0}
    assert client.get("/health").status_code == 200  # the process answers meanwhile

    held.release.set()
    assert warmup.done.wait(600)

    response = client.get("/ready")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["checks"]["warmup"] == {"ok": True, "done": True}
    shown = client.get("/ready", headers=admin).get_json()["checks"]["warmup"]
    # The warm-up classified what the model was given: the text, then each batch shape.
    assert held.sentences > 0
    assert shown["sentences"] == held.sentences
    assert shown["ok"] is True and "error" not in shown


def test_a_warm_up_that_fails_keeps_the_process_out_of_traffic(cold_start, accounts):
    _, admin = accounts.user(role="admin")
    cold, held = cold_start(fail=True)
    client = cold.test_client()

    held.release.set()
    assert cold.extensions["riskscan.warmup"].done.wait(600)

    body = assert_problem(client.get("/ready"), 503)
    assert body["detail"] == "Not ready: warmup unavailable."
    assert body["checks"]["warmup"] == {"ok": False, "done": True}  # no reason for anyone
    shown = client.get("/ready", headers=admin).get_json()["checks"]["warmup"]
    assert shown["error"] == "RuntimeError: the classifier failed on the warm-up's text"
    assert shown["sentences"] == 0


def test_a_celery_worker_process_takes_no_task_before_it_is_warm(cold_start, monkeypatch):
    """worker_process_init: the pool process returns to Celery (which then gives it tasks)
    only once its app's warm-up is done. The warm-up is held; the hook's own thread is seen
    waiting on the warm-up's Event, or returning, whichever comes first: only the wait
    passes, and it can only end once the test releases the warm-up."""
    cold, held = cold_start()
    monkeypatch.setattr(worker, "_app", cold)
    monkeypatch.setattr(worker, "_warm_processes", True)  # as `celery worker` sets it
    warmup = cold.extensions["riskscan.warmup"]
    settled, returned, waiters = threading.Event(), threading.Event(), []
    wait = warmup.done.wait

    def waiting(timeout=None):
        waiters.append(threading.current_thread())
        settled.set()
        return wait(timeout)

    monkeypatch.setattr(warmup.done, "wait", waiting)

    def process_init():
        worker.warm_process()
        returned.set()
        settled.set()

    thread = threading.Thread(target=process_init)
    thread.start()
    assert settled.wait(600), "the hook neither waited for the warm-up nor returned"
    assert not returned.is_set(), "the hook returned while the warm-up was held"
    assert thread in waiters, "the hook did not wait for the warm-up in its own thread"
    assert not warmup.done.is_set()  # so the wait it is in cannot have ended

    held.release.set()
    assert returned.wait(600), "the hook never returned after the warm-up"
    thread.join(600)
    assert warmup.readiness()["ok"] is True
    assert held.sentences > 0


def test_another_app_on_a_warm_model_shares_its_warm_up(make_app, scan_model_dir):
    first = make_app(MODEL_DIR=str(scan_model_dir))
    second = make_app(MODEL_DIR=str(scan_model_dir))

    assert second.extensions["riskscan.warmup"] is first.extensions["riskscan.warmup"]
    response = second.test_client().get("/ready")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["checks"]["warmup"] == {"ok": True, "done": True}


#: A fresh interpreter, with torch installed and not loaded, as `python -m service` starts.
FIRST_SECONDS = r"""
import sys
from service import create_app
from service.config import Settings

assert "spacy" not in sys.modules and "torch" not in sys.modules
app = create_app(Settings.from_env({}, RISKSCAN_ENV="testing", SECRET_KEY="x" * 32,
                                   DATABASE_URL="sqlite://", MODEL_DIR="off",
                                   UPLOAD_DIR=sys.argv[1]))
# No thread of the app's is importing spaCy now: torch is importable for any thread.
print("spacy" in sys.modules, sys.modules.get("torch", "absent") is not None)
"""


def test_an_app_imports_spacy_before_its_threads_so_torch_stays_importable(tmp_path):
    """What an e2e run met: the warm-up thread imported spaCy (torch unimportable for as long,
    segment.import_spacy) while the main thread asked the register's encoder for a device,
    and `import torch` failed. create_app now imports spaCy before it starts a thread."""
    import subprocess
    import sys

    ran = subprocess.run([sys.executable, "-c", FIRST_SECONDS, str(tmp_path)],
                         capture_output=True, text=True, timeout=300, check=False)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert ran.stdout.split() == ["True", "True"], ran.stderr[-2000:]
