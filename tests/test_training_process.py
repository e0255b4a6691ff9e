"""How a training's process is run (service/serving/trainings.py's side of
service/analysis/finetune_files.py, and ml/finetune.py's): one request file and the rows
in a private folder of the service's, one result file read back for the reason, and the
queued training announced to whichever job engine the app has. No model is trained here:
the process is a stand-in, or a real one refused before it trains."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from service.analysis.finetune_files import FinetuneRequest, FinetuneResult
from service.config import current_settings
from service.serving import trainings
from tests.corrections import Inert, base_models_root, correct_and_add
from tests.helpers import Accounts

TRAININGS = "/api/v1/admin/models/trainings"


@pytest.fixture
def root(tmp_path, scan_model_dir):
    return base_models_root(tmp_path, Path(scan_model_dir))


@pytest.fixture
def inert(make_app, root):
    app = make_app(MODEL_DIR=str(root), TRAINING_MIN_CORRECTIONS=2, MODEL_SYNC_S=0)
    app.extensions["riskscan.jobs"] = Inert()
    client = app.test_client()
    _, headers = Accounts(app, client).user(role="admin")
    return app, client, headers


def versions_in(root) -> set[str]:
    return {path.name for path in root.iterdir() if path.is_dir() and path.name != "current"}


def test_a_failed_trainings_reason_is_its_result_else_its_exit(tmp_path):
    """The reason is the result file's, whatever the process printed; without one (a
    SIGKILL, or it could not write it) its exit status says what is known."""
    result = tmp_path / "result.json"

    def why(returncode):
        with pytest.raises(RuntimeError) as raised:
            trainings.outcome(result, returncode)
        return str(raised.value)

    FinetuneResult.failed("OSError: no space left on device").write(result)
    assert why(1) == "OSError: no space left on device"
    result.write_text('{"ok": false, "error": "half a file"', encoding="utf-8")
    assert why(1).startswith("the training process's result is unreadable:")
    FinetuneResult.made(["base-ft-1"]).write(result)
    assert trainings.outcome(result, 0) == ("base-ft-1",)
    assert why(3) == "the training process failed (exit status 3)"  # ok, yet it failed
    result.unlink()
    assert why(-9) == "the training process was killed (SIGKILL)"
    assert why(3) == "the training process failed (exit status 3)"
    assert why(0) == "the training process ended without a result"


class Process:
    """subprocess.run in the training's place: it records what the service handed over
    (the command, the request, the rows and their folder's mode) and ends as told."""

    def __init__(self, returncode: int, result: FinetuneResult | None):
        self.returncode, self.result = returncode, result
        self.seen: dict = {}

    def __call__(self, command, **kwargs):
        request_file = Path(command[command.index("--request") + 1])
        request = FinetuneRequest.read(request_file)
        self.seen.update(
            command=command, kwargs=kwargs, request=request, folder=request_file.parent,
            mode=request_file.parent.stat().st_mode & 0o777,
            rows_mode=request.rows.stat().st_mode & 0o777,
            rows=[json.loads(line) for line in request.rows.read_text().splitlines()])
        if self.result is not None:
            self.result.write(Path(command[command.index("--result") + 1]))
        return subprocess.CompletedProcess(command, self.returncode)


def _run_with(app, client, headers, process, monkeypatch) -> dict:
    monkeypatch.setattr(trainings.subprocess, "run", process)
    response = client.post(TRAININGS, headers=headers, json={})
    assert response.status_code == 202, response.get_json()
    with app.app_context():
        trainings.run(response.get_json()["training_id"])
    return client.get(response.headers["Location"], headers=headers).get_json()


def test_the_service_hands_over_one_request_in_a_private_folder_and_reads_the_result(
        inert, root, monkeypatch):
    app, client, headers = inert
    correct_and_add(client, headers)

    failing = Process(1, FinetuneResult.failed("OSError: no space left on device"))
    failed = _run_with(app, client, headers, failing, monkeypatch)
    assert failed["status"] == "failed" and failed["version"] is None
    assert failed["error"] == "OSError: no space left on device"
    seen = failing.seen
    assert seen["command"][1:] == ["-m", "ml.finetune", "--request",
                                   str(seen["folder"] / "request.json"), "--result",
                                   str(seen["folder"] / "result.json")]
    request = seen["request"]
    assert (request.base, request.reader) == (root / "base", None)
    assert len(request.versions) == 1 and request.versions[0].startswith("base-ft-")
    assert (request.replay, request.epochs) == (current_settings(app).TRAINING_REPLAY,
                                                current_settings(app).TRAINING_EPOCHS)
    assert request.rows.parent == seen["folder"] and len(seen["rows"]) == 2
    assert all("contributors" not in row for row in seen["rows"])
    # People's sentences: in a folder of the service's own, gone after; none in the root.
    assert (seen["mode"], seen["rows_mode"]) == (0o700, 0o600)
    assert not seen["folder"].exists()
    assert not seen["folder"].resolve().is_relative_to(root.resolve())
    assert versions_in(root) == {"base"}

    killed = _run_with(app, client, headers, Process(-9, None), monkeypatch)
    assert killed["error"] == "the training process was killed (SIGKILL)"
    wrong = _run_with(app, client, headers, Process(0, FinetuneResult.made(["other"])),
                      monkeypatch)
    assert wrong["status"] == "failed" and wrong["error"].startswith(
        "the training process made other, not base-ft-")


def test_ml_finetune_writes_its_result_however_it_fails(tmp_path):
    """The process's side: a request it cannot carry out, or cannot read, still ends in a
    result that says why (and the exit status a terminal shows)."""
    models = tmp_path / "models"
    for name in ("base", "taken"):
        (models / name).mkdir(parents=True)
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"text": "A risk.", "label": "legal"}) + "\n")
    FinetuneRequest(base=models / "base", reader=None, versions=("taken",), replay=0,
                    epochs=1, documents=False, data_dir=None,
                    rows=rows).write(tmp_path / "request.json")
    FinetuneRequest(base=models / "base", reader=None, versions=("new",), replay=0,
                    epochs=1, documents=False, data_dir=None,
                    rows=tmp_path / "absent.jsonl").write(tmp_path / "rowless.json")
    (tmp_path / "bad.json").write_text(json.dumps({"base": "x"}))
    for request, code, said in (("request.json", 1, "already exists"),
                                ("rowless.json", 1, "FileNotFoundError"),
                                ("bad.json", 2, "missing keys")):
        result = tmp_path / f"result-{request}"
        done = subprocess.run([sys.executable, "-m", "ml.finetune", "--request",
                               str(tmp_path / request), "--result", str(result)],
                              cwd=trainings.REPO_ROOT, capture_output=True, text=True, timeout=300,
                              check=False)
        assert done.returncode == code, done.stderr[-2000:]
        ended = FinetuneResult.read(result)
        assert not ended.ok and said in ended.error, ended
    assert sorted(path.name for path in models.iterdir()) == ["base", "taken"]
    # Its private folder (the sentences as training reads them) went with it, in the
    # request's folder, never in the models root.
    assert not [path for path in tmp_path.iterdir() if path.name.startswith("finetune-")]


def test_a_queued_training_reaches_the_celery_engine_too(make_app, root, monkeypatch):
    """serving announces the training (trainings.training_queued); the engine the jobs
    package set up for this app, here a broker's, sends its task."""
    from service.jobs import queue

    sent = []
    monkeypatch.setattr(queue.celery, "send_task",
                        lambda name, args, **_: sent.append((name, args)))
    broker = queue.celery.conf.broker_url
    try:
        app = make_app(MODEL_DIR=str(root), TRAINING_MIN_CORRECTIONS=2, MODEL_SYNC_S=0,
                       CELERY_BROKER_URL="redis://127.0.0.1:9/0")
        client = app.test_client()
        _, headers = Accounts(app, client).user(role="admin")
        correct_and_add(client, headers)
        response = client.post(TRAININGS, headers=headers, json={})
        assert response.status_code == 202, response.get_json()
    finally:
        queue.use_broker(broker, 60)
    assert sent == [(queue.TRAIN_TASK, [response.get_json()["training_id"]])]
