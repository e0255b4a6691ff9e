"""Faults of a service's life, against ``python -m service`` of their own on 127.0.0.1
(reliability/faults.py runs them after the others, on the same MariaDB server):

1. A webhook receiver that drips its answer a byte at a time and never ends: each attempt
   ends at WEBHOOK_TIMEOUT_S all told and is recorded as a timeout, and another project's
   delivery to a healthy receiver arrives while the dripping goes on (docs/webhooks.md).
2. Rollback onto a version whose folder was deleted: it passes over it, names it, and
   serves the last version that loads (docs/models.md).
3. SIGTERM with scans in flight: each is answered, the process exits 0 within
   SHUTDOWN_GRACE_S and a few seconds (docs/operations.md).

Every wait is bounded; receivers and the LLM listen on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import shutil
import signal
import threading
import time
from pathlib import Path

import requests

from reliability.servers import ServiceProcess, wait_until

WEBHOOK_TIMEOUT_S = 2.0
SHUTDOWN_GRACE_S = 20.0
RISKY = "The vendor may fail to deliver the servers before the go-live date."


def models_root(source: Path, folder: Path, names=("v1", "v2", "v3")) -> Path:
    """A models root of the run's own: each of ``names`` the files of ``source`` with a
    check.json written for it (activation compares a version's answers with it)."""
    from service.analysis.check import write_check
    from service.analysis.model_folder import CHECK_JSON, CURRENT, point
    from service.analysis.transformer import TransformerAnalyzer

    folder.mkdir(parents=True)
    first = None
    for name in names:
        version = folder / name
        version.mkdir()
        for file in source.iterdir():
            if file.is_file() and file.name != CHECK_JSON:
                shutil.copy2(file, version / file.name)
        if first is None:
            write_check(version, TransformerAnalyzer(version))
            first = version
        else:
            shutil.copy2(first / CHECK_JSON, version / CHECK_JSON)
    point(folder, names[0], CURRENT)
    return folder


def _admin(service: ServiceProcess, database_url: str, password: str) -> dict:
    """A registered user made admin in the database (as create-admin would); its headers."""
    import uuid

    from sqlalchemy import create_engine, text

    email = f"lifecycle-{uuid.uuid4().hex[:8]}@example.com"
    made = requests.post(service.base_url + "/api/v1/auth/register", timeout=30,
                         json={"email": email, "password": password})
    made.raise_for_status()
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE users SET role = 'admin' WHERE id = :id"),
                           {"id": made.json()["id"]})
    engine.dispose()
    token = requests.post(service.base_url + "/api/v1/auth/login", timeout=30,
                          json={"email": email, "password": password}).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _call(service, method, path, headers, **kwargs) -> requests.Response:
    return requests.request(method, service.base_url + path, headers=headers, timeout=30,
                            allow_redirects=False, **kwargs)


def slow_drip_webhook(service, headers, report) -> None:
    from testkit.webhook_receiver import Receiver

    def project_with_hook(url: str) -> tuple[str, str]:
        project = _call(service, "POST", "/api/v1/projects", headers, json={"name": "drip"})
        hook = _call(service, "POST", f"/api/v1/projects/{project.json()['id']}/webhooks",
                     headers, json={"url": url, "events": ["risk.created"]})
        assert hook.status_code == 201, hook.text
        return project.json()["id"], hook.json()["id"]

    with Receiver(held_limit_s=WEBHOOK_TIMEOUT_S * 10) as slow, Receiver() as healthy:
        slow.answers = ["drip"] * 4
        slow_project, slow_hook = project_with_hook(f"{slow.url}/slow")
        other_project, other_hook = project_with_hook(f"{healthy.url}/other")
        started = time.monotonic()
        for _ in range(2):
            _call(service, "POST", "/api/v1/scans", headers,
                  json={"text": RISKY, "project_id": slow_project})
        held = slow.wait_for(lambda: slow.held >= 1, timeout_s=30)
        _call(service, "POST", "/api/v1/scans", headers,
              json={"text": RISKY, "project_id": other_project})
        try:
            arrived = healthy.next(timeout_s=30).path == "/other"
        except AssertionError:
            arrived = False
        report.check("drip: another project's delivery arrives while a receiver drips",
                     held and arrived, f"held {held}, arrived {arrived}")
        cut = slow.wait_for(lambda: slow.cut >= 1, timeout_s=WEBHOOK_TIMEOUT_S * 5)
        report.check(f"drip: the sender hangs up at the attempt's deadline "
                     f"({WEBHOOK_TIMEOUT_S:g} s)", cut,
                     f"none cut after {time.monotonic() - started:.1f} s")
        path = f"/api/v1/projects/{slow_project}/webhooks/{slow_hook}/deliveries"
        timed_out = wait_until(lambda: any(
            d["error"] == f"No HTTP answer within {WEBHOOK_TIMEOUT_S:g} s."
            for d in _call(service, "GET", path, headers).json()["items"]), 30, 0.2)
        report.check("drip: the attempt is recorded as a timeout, to be tried again",
                     timed_out, json.dumps(_call(service, "GET", path, headers).json())[:400])
        for hook_id, project in ((slow_hook, slow_project), (other_hook, other_project)):
            _call(service, "DELETE", f"/api/v1/projects/{project}/webhooks/{hook_id}", headers)
        slow.release.set()


def rollback_past_a_deleted_version(service, headers, root: Path, report) -> None:
    for version in ("v2", "v3"):
        activated = _call(service, "POST", f"/api/v1/admin/models/{version}/activate", headers)
        report.check("rollback: v2 then v3 activated", activated.status_code == 200,
                     activated.text[:300])
    shutil.rmtree(root / "v2")
    rolled = _call(service, "POST", "/api/v1/admin/models/rollback", headers)
    body = rolled.json() if rolled.status_code == 200 else {}
    report.check("rollback: onto a deleted version it passes over it, names it, serves v1",
                 body.get("active_version") == "v1" and body.get("skipped") == [
                     {"version": "v2", "reason": "not in the models root"}], rolled.text[:300])
    scanned = _call(service, "POST", "/api/v1/scans", headers, json={"text": RISKY})
    report.check("rollback: the next scan is v1's", scanned.status_code == 201
                 and scanned.json().get("model_version") == "v1", scanned.text[:300])
    again = _call(service, "POST", "/api/v1/admin/models/rollback", headers)
    report.check("rollback: then none is left: 409", again.status_code == 409, again.text[:300])


def sigterm_with_scans_in_flight(service, headers, llm, report, in_flight: int = 2) -> None:
    """The LLM holds ``in_flight`` force_llm scans (its hang, shorter than LLM_TIMEOUT_S);
    SIGTERM arrives while they wait."""
    llm.hang_s = 2.0
    llm.queue[:] = ["hang"] * in_flight
    before = len(llm.requests)
    answers: list[int | None] = [None] * in_flight

    def scan(n: int) -> None:
        try:
            answers[n] = _call(service, "POST", "/api/v1/scans", headers,
                               json={"text": RISKY, "force_llm": True}).status_code
        except requests.RequestException:
            answers[n] = None

    threads = [threading.Thread(target=scan, args=(n,)) for n in range(in_flight)]
    for thread in threads:
        thread.start()
    reached = wait_until(lambda: len(llm.requests) - before >= in_flight, 30, 0.02)
    started = time.monotonic()
    service.process.send_signal(signal.SIGTERM)
    try:
        code = service.process.wait(timeout=SHUTDOWN_GRACE_S + 10)
    except Exception:  # noqa: BLE001  (stop() kills it)
        code = None
    exit_s = time.monotonic() - started
    for thread in threads:
        thread.join(timeout=40)
    report.check("sigterm: every scan in flight is answered (not cut, no 500/503)", reached
                 and all(status is not None and status not in (500, 503) for status in answers),
        f"reached {reached}, answers {answers}")
    report.check("sigterm: the process exits 0 within the grace period", code == 0
                 and exit_s <= SHUTDOWN_GRACE_S + 5, f"exit {code} after {exit_s:.1f} s")
    report.figures["sigterm exit (s)"] = round(exit_s, 2)
    report.figures["sigterm answers in flight"] = answers


def run_lifecycle(model_dir: str, database_url: str, work: Path, llm, env: dict,
                  report, password: str) -> None:
    from service.analysis.model_folder import CURRENT, pointed

    source = Path(model_dir)
    if pointed(source, CURRENT):
        source = source / pointed(source, CURRENT)
    root = models_root(source, work / "models")
    env = {**env, "MODEL_DIR": str(root), "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
           "WEBHOOK_TIMEOUT_S": str(WEBHOOK_TIMEOUT_S), "SHUTDOWN_GRACE_S": str(SHUTDOWN_GRACE_S)}
    service = ServiceProcess(env, work / "lifecycle.log").start()
    try:
        headers = _admin(service, database_url, password)
        slow_drip_webhook(service, headers, report)
        rollback_past_a_deleted_version(service, headers, root, report)
        sigterm_with_scans_in_flight(service, headers, llm, report)
    finally:
        service.stop()
