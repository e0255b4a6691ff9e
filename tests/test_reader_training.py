"""The reader trains itself (issue #83): where the background training starts and where it
does not, a finished training joining through the gate (or refused by it, saying why), the
models page's progress, and, end to end on the suite's small models, a fresh models root
served by ``python -m service``: the reader trained in the background and serving with no
restart, and a service stopped midway leaving nothing half-made before the next start
trains again.

The background trainings here are real ``python -m ml.reader`` runs on the test model's
encoder and a small share of its data (READER_TRAIN_ARGS), about a minute each."""

from __future__ import annotations

import dataclasses
import fcntl
import importlib.util
import json
import os
import signal
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from reliability.servers import ServiceProcess, wait_until
from service.analysis.model_folder import CHECK_JSON, READER, SCREEN_JSON
from service.serving import reader_training
from testkit.model_folders import copy_model
from tests.helpers import Accounts
from tests.real_parts import require_or_skip
from tests.scanning import created, post_text

REPO_ROOT = Path(__file__).resolve().parent.parent
TEXT = "Our only supplier of the sensor chips is in financial trouble. The team met on Monday."


@pytest.fixture
def root(scan_model_dir, tmp_path) -> Path:
    """A fresh models root: a copy of the test model, named by `current`, and no reader."""
    models = tmp_path / "models"
    copy_model(Path(scan_model_dir), models / Path(scan_model_dir).name)
    (models / "current").write_text(Path(scan_model_dir).name + "\n")
    return models


def small_recipe(test_model_data_dir: Path, folder: Path) -> str:
    """READER_TRAIN_ARGS for a reader of the test model's encoder on a share of its data,
    fitted on three development documents.

    The documents are read as stating no risk: both models then score F1 0 there, so that
    the gate lets a reader of a minute's training pass (the gate's own decision on real
    figures is the tests above), and its cheapest int8 graph reads them as fp32 does."""
    documents = folder / "dev.jsonl"
    lines = (REPO_ROOT / "ml/data/documents/dev.jsonl").read_text().splitlines()[:3]
    documents.write_text("\n".join(json.dumps({**json.loads(line), "risks": []})
                                   for line in lines) + "\n")
    fit = f"--documents {documents} --test-documents none"
    return (f"--epochs 1 --encoder minilm --encoder-layers 3 --max-train-examples 160 "
            f"--max-length 32 --batch-size 16 "
            f"--learning-rate 2e-4 --data-dir {test_model_data_dir} --document-weight 1.0 "
            f"--calibration-documents none --test-documents none --fit '{fit}'")


def needs_torch() -> None:
    if importlib.util.find_spec("torch") is None:
        require_or_skip("torch is not installed here (requirements-ml.txt)")


# ---------------------------------------------------------------------------------------
# Where it trains


def test_it_trains_where_the_machine_can_and_not_elsewhere(settings, root, tmp_path,
                                                            reader_dir, monkeypatch):
    needs_torch()
    auto = dataclasses.replace(settings, MODEL_DIR=str(root), READER_TRAIN=True)
    assert reader_training.why_not(auto) is None

    assert "READER_TRAIN is off" in reader_training.why_not(
        dataclasses.replace(auto, READER_TRAIN=False))
    assert "READER_DIR is off" in reader_training.why_not(
        dataclasses.replace(auto, READER_DIR="off"))
    assert "not a models root" in reader_training.why_not(
        dataclasses.replace(auto, MODEL_DIR=str(next(root.glob("test-*")))))

    # A reader in the root, pointed at or only lying there (one an earlier training left
    # refused), is never trained again.
    copy_model(reader_dir, root / "reader-old")
    assert "has a reader already" in reader_training.why_not(auto)
    (root / "reader-old" / SCREEN_JSON).unlink()  # a fast model now, not a reader
    assert reader_training.why_not(auto) is None
    (root / READER).write_text("reader-old\n")
    assert "has a reader already" in reader_training.why_not(auto)
    (root / READER).unlink()

    # Without torch (the CPU image): never. find_spec is the one thing stood in for here.
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    assert "torch is not installed" in reader_training.why_not(auto)


def test_the_settings_refuse_what_they_cannot_mean():
    from service.config import ConfigError, Settings

    with pytest.raises(ConfigError, match="READER_TRAIN"):
        Settings.from_env({"READER_TRAIN": "auto-ish"}, RISKSCAN_ENV="testing")
    # The images and the tests: never; `make run`'s on and off are read as such.
    assert Settings.from_env({}, RISKSCAN_ENV="testing").READER_TRAIN is False
    assert Settings.from_env({"READER_TRAIN": "on"}, RISKSCAN_ENV="testing").READER_TRAIN
    assert not Settings.from_env({"READER_TRAIN": "off"}, RISKSCAN_ENV="testing").READER_TRAIN


def test_make_run_turns_it_on_and_its_variable_off():
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "READER_TRAIN ?= on" in makefile
    assert "READER_TRAIN=$(READER_TRAIN) $(PY) -m service" in makefile


# ---------------------------------------------------------------------------------------
# Joining through the gate


def reader_in(root: Path, reader_dir: Path, name: str, fast: str, *, dev: dict | None):
    """A reader folder in ``root`` fitted to ``fast``, with the development documents'
    figures ``dev`` ({"fast": f1, "cascade": f1}) in its screen.json."""
    from service.analysis.check import write_check
    from service.analysis.transformer import TransformerAnalyzer

    folder = copy_model(reader_dir, root / name, skip={SCREEN_JSON, CHECK_JSON})
    write_check(folder, TransformerAnalyzer(folder))  # what this reader finds, as ml.train
    screen = {"screen": 0.5, "fast_model": fast}
    if dev is not None:
        screen["documents"] = {"dev": {side: {"f1": f1} for side, f1 in dev.items()}}
    (folder / SCREEN_JSON).write_text(json.dumps(screen))
    return folder


def test_a_finished_training_activates_through_the_gate_and_is_audited(
        make_app, scan_model_dir, root, reader_dir):
    fast = Path(scan_model_dir).name
    app = make_app(MODEL_DIR=str(root))
    reader_in(root, reader_dir, "mpnet-won", fast, dev={"fast": 0.5, "cascade": 0.6})

    state, words = reader_training._activate(app, root, "mpnet-won")

    assert state == "activated", words
    assert (root / READER).read_text() == "mpnet-won\n"
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    assert created(post_text(client, headers, TEXT))["model_version"] == f"{fast}+mpnet-won"
    _, admin = Accounts(app, client).user(role="admin")
    events = client.get("/api/v1/admin/audit-events?event=model_activated",
                        headers=admin).get_json()["items"]
    assert events[0]["details"]["to"] == f"{fast}+mpnet-won"
    assert events[0]["details"]["cause"] == reader_training.CAUSE
    assert events[0]["actor_id"] is None


@pytest.mark.parametrize(("fast", "cascade", "joins"), [
    (0.5973, 0.5841, True),  # the one-epoch reader at full scale: the same risks, 4 alarms more
    (0.60, 0.58, True), (0.50, 0.60, True), (0.60, 0.5799, False), (0.60, 0.45, False)])
def test_the_gate_lets_a_cascade_within_the_documents_noise_join(fast, cascade, joins):
    from service.serving.regressions import CASCADE, cascade_lost

    lost = cascade_lost({"documents": {"dev": {"fast": {"f1": fast},
                                               "cascade": {"f1": cascade}}}})
    assert (lost == {}) is joins
    if not joins:
        assert f"F1 {cascade:.2f} against {fast:.2f}" in lost[CASCADE]


def test_a_reader_that_loses_to_its_fast_model_is_not_activated_and_the_page_says_why(
        make_app, scan_model_dir, root, reader_dir):
    fast = Path(scan_model_dir).name
    app = make_app(MODEL_DIR=str(root))
    reader_in(root, reader_dir, "mpnet-lost", fast, dev={"fast": 0.6, "cascade": 0.45})

    state, words = reader_training._activate(app, root, "mpnet-lost")

    assert state == "refused"
    assert "worse than its fast model alone: F1 0.45 against 0.60" in words
    assert not (root / READER).exists()
    client = app.test_client()
    _, user = Accounts(app, client).user()
    assert created(post_text(client, user, TEXT))["model_version"] == fast
    # The models page says it, from what the supervisor writes.
    (root / reader_training.FOLDER).mkdir()
    reader_training._write(root / reader_training.FOLDER, state=state, version="mpnet-lost",
                           reason=words, started_at="2026-11-29T10:00:00+00:00",
                           finished_at="2026-11-29T10:43:00+00:00")
    _, admin = Accounts(app, client).user(role="admin")
    listed = client.get("/api/v1/admin/models", headers=admin).get_json()
    assert listed["reader_training"]["state"] == "refused"
    assert "F1 0.45 against 0.60" in listed["reader_training"]["reason"]


def training_at(root: Path, *, epochs: int) -> Path:
    """The root's training folder as a supervisor and its child leave it mid-epoch: step 150
    of 600 of epoch 1 (its lock is the caller's to hold, as the training process would)."""
    folder = root / reader_training.FOLDER
    folder.mkdir()
    reader_training._write(folder, state="training", version="mpnet-20261129-101500",
                           started_at="2026-11-29T10:15:00+00:00", pid=1,
                           reason="trains at the lowest CPU priority")
    (folder / reader_training.PROGRESS).write_text(json.dumps(
        {"stage": "training", "epoch": 1, "epochs": epochs, "done": 150, "total": 600}))
    return folder


def test_the_models_page_and_ready_say_how_far_it_is(make_app, root, settings):
    app = make_app(MODEL_DIR=str(root), READER_TRAIN=True)
    folder = training_at(root, epochs=1)
    client = app.test_client()
    _, admin = Accounts(app, client).user(role="admin")

    with open(folder / reader_training.LOCK, "a+") as lock:  # its process, alive
        fcntl.flock(lock, fcntl.LOCK_EX)
        listed = client.get("/api/v1/admin/models", headers=admin).get_json()
        ready = client.get("/ready", headers=admin).get_json()
        anyone = client.get("/ready").get_json()
    training = listed["reader_training"]
    assert training["state"] == "training" and training["words"] == "training"
    assert training["progress"] == {"stage": "training", "epoch": 1, "epochs": 1,
                                    "done": 150, "total": 600}
    assert ready["checks"]["reader_training"]["progress"]["done"] == 150
    said = anyone["checks"]["reader_training"]  # no names nor figures for anyone
    assert said["ok"] is True and set(said) <= {"ok", "progress"} and not said.get("progress")

    # Its process gone (no lock held): stopped, and the next start trains again.
    stopped = client.get("/api/v1/admin/models", headers=admin).get_json()["reader_training"]
    assert stopped["state"] == "stopped"
    assert "the next start trains again" in stopped["words"]


def test_the_console_models_page_shows_the_progress(make_app, root):
    from tests.console_browser import signed_in_client

    app = make_app(MODEL_DIR=str(root), READER_TRAIN=True)
    folder = training_at(root, epochs=2)
    admin, _ = Accounts(app, app.test_client()).user(role="admin")
    browser = signed_in_client(app, admin["email"])
    with open(folder / reader_training.LOCK, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        page = browser.get("/app/admin/models").get_data(as_text=True)
    assert "The reader" in page and "<strong>training</strong>" in page
    assert "Epoch 1 of 2, step 150 of 600" in page and "25%" in page
    assert "trains at the lowest CPU priority" in page

    # Its epochs done, calibrated and read on the test documents for minutes: said so.
    (folder / reader_training.PROGRESS).write_text(json.dumps(
        {"stage": "evaluating", "version": "mpnet-20261129-101500"}))
    with open(folder / reader_training.LOCK, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        page = browser.get("/app/admin/models").get_data(as_text=True)
    assert "Trained; calibrating it on the development documents" in page


def test_a_training_says_it_is_evaluating_once_its_epochs_are_done(tmp_path, monkeypatch):
    """ml.train's stages as a watcher reads them: the epochs' steps, then "evaluating"
    before the minutes of calibration and test documents."""
    from ml import train as trainer_module
    from ml.progress import Progress

    seen = []
    monkeypatch.setattr(Progress, "_write", lambda self: seen.append(dict(self._fields)))

    class Stopped(Exception):
        pass

    trainer = trainer_module.Trainer.__new__(trainer_module.Trainer)
    trainer.config = trainer_module.parse_config(["--output-root", str(tmp_path)])
    trainer.model_dir = tmp_path / "absent"
    trainer.progress = Progress(tmp_path / "progress.json")
    monkeypatch.setattr(trainer, "prepare", lambda: trainer.progress.stage("training"),
                        raising=False)
    monkeypatch.setattr(trainer, "fit", lambda: None, raising=False)

    def stop(*_args):
        raise Stopped

    monkeypatch.setattr(trainer_module, "staged", stop)
    try:
        trainer.train()
    except Stopped:
        pass
    assert [fields["stage"] for fields in seen] == ["training", "evaluating"]


# ---------------------------------------------------------------------------------------
# End to end: python -m service, a fresh models root, no restart


def service_env(root: Path, database: Path, recipe: str) -> dict[str, str]:
    return {"MODEL_DIR": str(root), "DATABASE_URL": f"sqlite:///{database}",
            "READER_TRAIN": "on", "READER_TRAIN_ARGS": recipe,
            "MODEL_SYNC_S": "1", "LOG_LEVEL": "INFO",
            **{k: v for k, v in os.environ.items() if k in ("OMP_NUM_THREADS",)}}


def ended(settings) -> dict | None:
    """The training's status once it ended one way or the other."""
    said = reader_training.status(settings)
    return said if said["state"] in ("activated", "refused", "failed", "stopped") else None


def test_a_fresh_root_served_trains_its_reader_and_serves_it_without_a_restart(
        root, test_model_data_dir, tmp_path):
    from service.config import Settings

    needs_torch()
    recipe = small_recipe(test_model_data_dir, tmp_path)
    # What the test reads the training's state through: the root's files, as any process.
    looked = Settings.from_env({}, RISKSCAN_ENV="testing", MODEL_DIR=str(root),
                               READER_TRAIN=True)
    env = service_env(root, tmp_path / "riskscan.db", recipe)
    folder = root / reader_training.FOLDER

    # A first start, stopped hard while the reader trains (a larger share of the data, so
    # that its epoch lasts): nothing of it in the root.
    longer = {**env, "READER_TRAIN_ARGS": recipe.replace("--max-train-examples 160",
                                                         "--max-train-examples 1600")}
    first = ServiceProcess(longer, tmp_path / "first.log").start()
    try:
        assert wait_until(lambda: (reader_training.status(looked).get("progress") or {})
                          .get("stage") == "training", 300, 0.2), first.log_tail()
        child = reader_training.status(looked)["pid"]
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
    finally:
        first.stop()
    assert wait_until(lambda: not _alive(child), 60, 0.1), "the training outlived its service"
    assert reader_training.status(looked)["state"] == "stopped"
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == [
        "current", Path(next(root.glob("test-*"))).name]

    # The next start trains again, and the cascade serves with no restart.
    with ServiceProcess(env, tmp_path / "second.log") as second:
        assert wait_until(lambda: ended(looked) is not None, 900, 0.5), second.log_tail()
        said = reader_training.status(looked)
        assert said["state"] == "activated", (said, second.log_tail())
        version = said["version"]
        fast = next(root.glob("test-*")).name
        assert (root / READER).read_text() == f"{version}\n"
        assert not (folder / reader_training.WORK).exists() or not any(
            (folder / reader_training.WORK).iterdir())
        api = second.base_url + "/api/v1"
        account = {"email": "reader@example.com", "password": "plum-orbit-kettle-42"}
        assert requests.post(f"{api}/auth/register", json=account, timeout=30).ok
        token = requests.post(f"{api}/auth/login", json=account, timeout=30).json()[
            "access_token"]
        scan = requests.post(f"{api}/scans", json={"text": TEXT}, timeout=60,
                             headers={"Authorization": f"Bearer {token}"})
        assert scan.status_code == 201, scan.text
        assert scan.json()["model_version"] == f"{fast}+{version}"
        # The reader keeps the first layers it was asked for (the recipe's --encoder-layers),
        # as its card says: the served graph is of that depth.
        trained = json.loads((root / version / "training_config.json").read_text())
        assert trained["encoder_layers"] == 3 and trained["encoder"]["layers"] == 3
        assert json.loads((root / version / "config.json").read_text())[
            "num_hidden_layers"] == 3
    engine = create_engine(env["DATABASE_URL"])
    try:
        with engine.connect() as connection:
            details = connection.execute(text(
                "SELECT details FROM audit_events WHERE event = 'model_activated'")).scalars().all()
    finally:
        engine.dispose()
    assert [json.loads(d)["cause"] for d in details] == [reader_training.CAUSE]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
