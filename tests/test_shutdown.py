"""A process that stops when told. ``python -m service`` on SIGTERM (what `docker stop` and
`podman stop` send; as a container's PID 1 it has no default action) stops taking
connections, lets the requests in flight finish for up to SHUTDOWN_GRACE_S (idle, it does
not wait), answers 503 to those still running then, closes the database and exits 0, never
134. Each test starts the real process on a free port, on SQLite in its tmp folder.

A scan is held in flight by an LLM on loopback that answers only when the test says so, or
by the test model reading a long text.
"""

from __future__ import annotations

import shutil
import signal
import socket
import sqlite3
import threading
import uuid

import pytest
import requests

from reliability.cluster import RABBITMQ_SERVER, CeleryWorker, RabbitMQServer
from reliability.servers import LOOPBACK, ServiceProcess, wait_until
from testkit.llm_server import FakeLLMServer
from tests.helpers import PASSWORD, RACE_TIMEOUT_S
from tests.real_parts import require_or_skip

RISK = "The vendor may miss the May deadline."
TEXT = f"Weekly status. {RISK} The team had lunch."


class HeldLLM(FakeLLMServer):
    """An LLM whose answers wait for ``release()``; ``asked`` is set by the first request."""

    def __init__(self):
        super().__init__(risks={RISK: "schedule"}, behaviour="hang")
        self.hang_s = 300.0
        self.asked = threading.Event()

    def record(self, request) -> None:
        super().record(request)
        self.asked.set()

    def release(self) -> None:
        self._stop.set()  # what ends a hanging answer (the server's own stop)


def service_process(tmp_path, **env) -> ServiceProcess:
    database = tmp_path / "riskscan.db"
    return ServiceProcess({"DATABASE_URL": f"sqlite:///{database}", "MODEL_DIR": "off",
                           "UPLOAD_DIR": str(tmp_path / "uploads"), "LOG_LEVEL": "INFO",
                           "LOG_FORMAT": "text", **env}, tmp_path / "service.log")


def refuses_connections(port: int) -> bool:
    """Whether the port refuses a connection now. A connection caught in the listening
    socket's backlog as it closes is reset instead: not an answer yet, so ask again."""
    try:
        socket.create_connection((LOOPBACK, port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:
        return False
    return False


def bearer(base_url: str) -> dict:
    email = f"user-{uuid.uuid4().hex[:8]}@example.com"
    for path in ("/api/v1/auth/register", "/api/v1/auth/login"):
        answer = requests.post(base_url + path, json={"email": email, "password": PASSWORD},
                               timeout=30)
        assert answer.ok, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def stored_scans(tmp_path) -> int:
    with sqlite3.connect(tmp_path / "riskscan.db") as connection:
        return connection.execute("SELECT count(*) FROM scans").fetchone()[0]


def test_an_idle_service_exits_0_on_sigterm_without_waiting_out_the_grace(tmp_path):
    """Nothing in flight, nothing to wait for: with an hour's grace it still stops at once
    (a process that waited the grace would outlast the wait below and fail it)."""
    service = service_process(tmp_path, SHUTDOWN_GRACE_S="3600").start()  # /health said 200
    try:
        service.process.send_signal(signal.SIGTERM)
        status = service.process.wait(timeout=RACE_TIMEOUT_S)
    finally:
        service.stop()

    assert status == 0, service.log_tail()
    assert "0 with a request in flight" in service.log_tail(), service.log_tail()
    assert "unfinished" not in service.log_tail()


@pytest.fixture
def held_scan(tmp_path):
    """A service with a scan in flight, held in its LLM call: (service, LLM, the answers of
    the scan's request once it has one)."""
    llm = HeldLLM()
    llm.start()
    service = service_process(tmp_path, LLM_BASE_URL=llm.base_url, LLM_MODEL="held-model",
                              LLM_TIMEOUT_S="300", LLM_SCAN_TIMEOUT_S="300",
                              SHUTDOWN_GRACE_S="120").start()
    headers = bearer(service.base_url)
    answers: list = []

    def scan():
        try:
            answers.append(requests.post(service.base_url + "/api/v1/scans", headers=headers,
                                         json={"text": TEXT, "force_llm": True}, timeout=300))
        except requests.RequestException as error:
            answers.append(error)

    sender = threading.Thread(target=scan, daemon=True)
    sender.start()
    assert llm.asked.wait(60), service.log_tail()  # the scan waits in the LLM
    yield service, llm, answers, sender
    llm.stop()
    service.stop()


def test_sigterm_finishes_the_scan_in_flight_and_takes_no_new_connection(held_scan, tmp_path):
    service, llm, answers, sender = held_scan

    service.process.send_signal(signal.SIGTERM)

    assert wait_until(lambda: refuses_connections(service.port), 30), service.log_tail()
    assert service.process.poll() is None  # still serving the scan it holds
    llm.release()
    sender.join(timeout=120)
    assert [getattr(answer, "status_code", answer) for answer in answers] == [201]
    assert answers[0].json()["data"][0]["risk"] == RISK
    assert service.process.wait(timeout=60) == 0, service.log_tail()
    assert stored_scans(tmp_path) == 1


def test_a_request_held_past_the_grace_period_is_answered_503_and_the_exit_is_0(tmp_path):
    """SHUTDOWN_GRACE_S bounds the wait: the process exits 0 with the scan still held, and
    that request is answered 503 (send it again; nothing stored), not cut."""
    llm = HeldLLM()
    llm.start()
    service = service_process(tmp_path, LLM_BASE_URL=llm.base_url, LLM_MODEL="held-model",
                              LLM_TIMEOUT_S="300", LLM_SCAN_TIMEOUT_S="300",
                              SHUTDOWN_GRACE_S="1").start()
    try:
        headers = bearer(service.base_url)
        outcome: list = []

        def scan():
            try:
                outcome.append(requests.post(service.base_url + "/api/v1/scans",
                                             headers=headers, timeout=300,
                                             json={"text": TEXT, "force_llm": True}))
            except requests.RequestException as error:
                outcome.append(error)

        sender = threading.Thread(target=scan, daemon=True)
        sender.start()
        assert llm.asked.wait(60), service.log_tail()

        service.process.send_signal(signal.SIGTERM)

        assert service.process.wait(timeout=60) == 0, service.log_tail()
        sender.join(timeout=60)
        assert [getattr(answer, "status_code", answer) for answer in outcome] == [503]
        assert outcome[0].headers["Content-Type"] == "application/problem+json"
        assert outcome[0].json()["status"] == 503 and outcome[0].headers["Retry-After"]
        assert stored_scans(tmp_path) == 0
    finally:
        llm.stop()
        service.stop()


def sentences_classified(base_url: str) -> float:
    """The model's count of sentences classified, from /metrics (loopback may read it)."""
    for line in requests.get(base_url + "/metrics", timeout=30).text.splitlines():
        if line.startswith("riskscan_sentences_classified_total "):
            return float(line.split()[1])
    return 0.0


def test_sigterm_during_a_long_model_scan_answers_it_and_exits_0(tmp_path, scan_model_dir):
    """The model reads a long text when SIGTERM comes and goes on past the grace: the
    client gets an answer (its 201 if the scan ended in time, else a 503), never a reset,
    and the process exits 0. It aborted with 134: finalization ended the thread that was
    still in the model's C++ code ("terminate called without an active exception")."""
    model = tmp_path / "model"
    shutil.copytree(scan_model_dir, model)  # a copy: the process reads nothing of others'
    service = service_process(tmp_path, MODEL_DIR=str(model), SHUTDOWN_GRACE_S="0",
                              MODEL_BATCH_SIZE="4", MAX_DOCUMENT_CHARS="1000000",
                              MAX_UPLOAD_MB="10").start()
    try:
        assert wait_until(lambda: requests.get(service.base_url + "/ready", timeout=30).ok,
                          600), service.log_tail()  # warm: the warm-up counts no more
        headers = bearer(service.base_url)
        before = sentences_classified(service.base_url)
        answers: list = []

        def scan():
            try:
                answers.append(requests.post(service.base_url + "/api/v1/scans",
                                             headers=headers, timeout=600,
                                             json={"text": " ".join([TEXT] * 3000)}))
            except requests.RequestException as error:
                answers.append(error)

        sender = threading.Thread(target=scan, daemon=True)
        sender.start()
        assert wait_until(lambda: sentences_classified(service.base_url) > before, 600), (
            service.log_tail())  # the scan is in the model

        service.process.send_signal(signal.SIGTERM)

        status = service.process.wait(timeout=600)
        sender.join(timeout=60)
        log = service.log_tail()
        assert status == 0, log
        assert "terminate called" not in log
        assert [getattr(answer, "status_code", answer) for answer in answers] in (
            [201], [503]), log
    finally:
        service.stop()


# --- Celery workers ----------------------------------------------------------------------

def test_a_stop_wakes_the_workers_event_loop_from_its_poll(monkeypatch):
    """Celery's SIGTERM handler only marks the worker as stopping; its event loop, polling
    until the next broker timer (up to kombu's 10 s), saw it that much later. The
    ``worker_shutting_down`` receiver, run as the signal handler is, on the loop's own
    thread right before it polls, wakes the loop: its poll returns at once."""
    from kombu.asynchronous import Hub, get_event_loop, set_event_loop
    from kombu.asynchronous.timer import Timer

    from service.jobs import worker

    woken = threading.Event()
    monkeypatch.setattr(worker, "_nothing", woken.set)  # what the woken loop runs
    hub = Hub(timer=Timer(max_interval=10.0))  # a worker's (celery.worker.components.Timer)
    watched, other_end = socket.socketpair()  # a loop polls while it watches something
    hub.add_reader(watched.fileno(), lambda *_: None)
    hub.call_later(600, lambda: None)  # the next timer: a poll of kombu's longest wait
    stops = []

    def stop_once():  # a tick runs on the loop's thread just before its poll
        if not stops:
            stops.append(worker.wake_for_shutdown(sig="SIGTERM", how="Warm", exitcode=0))

    hub.on_tick.add(stop_once)
    previous = get_event_loop()
    set_event_loop(hub)
    loop = hub.create_loop()

    def run():
        while not woken.is_set():
            next(loop)

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    try:
        assert woken.wait(5), "the event loop was not woken"  # its poll alone: 10 s
    finally:
        woken.set()  # the runner stops after its poll, which this ends
        other_end.send(b"x")
        runner.join(timeout=30)
        set_event_loop(previous)
        hub.close()
        watched.close()
        other_end.close()


@pytest.fixture
def rabbitmq(tmp_path):
    """A RabbitMQ node of the test's own (the brokers of other tests' workers never see
    its tasks)."""
    if RABBITMQ_SERVER is None:
        require_or_skip("rabbitmq-server is not installed")
    node = RabbitMQServer(tmp_path / "rabbitmq").start()
    yield node
    node.stop()


def test_sigterm_lets_a_worker_finish_its_document_and_exit_0(tmp_path, rabbitmq):
    llm = HeldLLM()
    llm.start()
    settings = {"CELERY_BROKER_URL": rabbitmq.url(), "LLM_BASE_URL": llm.base_url,
                "LLM_MODEL": "held-model", "LLM_TIMEOUT_S": "300",
                "LLM_SCAN_TIMEOUT_S": "300"}
    service = service_process(tmp_path, **settings).start()
    worker = CeleryWorker("stopping", {**service.env, "LOG_LEVEL": "WARNING"},
                          tmp_path / "worker.log")
    try:
        worker.start().wait_ready(timeout_s=120)
        headers = bearer(service.base_url)
        sent = requests.post(service.base_url + "/api/v1/jobs", headers=headers, timeout=60,
                             data={"force_llm": "true"},
                             files=[("files", ("report.txt", TEXT.encode()))])
        assert sent.status_code == 202, sent.text
        assert llm.asked.wait(120), worker.log_tail()  # the worker's document is in the LLM

        worker.process.send_signal(signal.SIGTERM)  # to the worker, as to a container's PID 1

        assert wait_until(lambda: "Warm shutdown" in worker.log_tail(), 30), worker.log_tail()
        assert worker.alive()  # finishing the document it holds
        llm.release()
        assert worker.process.wait(timeout=120) == 0, worker.log_tail()
        job = requests.get(f"{service.base_url}/api/v1/jobs/{sent.json()['job_id']}",
                           headers=headers, timeout=30).json()
        assert (job["status"], job["done"], job["failed"]) == ("done", 1, 0), job
    finally:
        llm.stop()
        worker.stop()
        service.stop()
