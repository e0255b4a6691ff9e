"""Faults under load, against ``python -m service`` on waitress with the real model, a MariaDB
server of the driver's own and a real OpenAI-compatible server on loopback for force_llm.

1. An exception inside a request (the victim's upload folder is blocked by a file, as a full
   or misconfigured disk would): 500 problem+json with an error_id and no traceback, no row
   and no file of that scan, and the service goes on serving everyone.
2. The LLM hangs, answers 500, answers garbage (prose, twice), redirects: force_llm scans get
   504, 502, 502, 502; model scans go on with 201; no scan row and no stored file for any
   failed scan, and every LLM call is in llm_calls.
3. MariaDB is shut down and restarted under load: requests during the outage get 503 with
   Retry-After, never a 500; the service answers again within 5 s of the database being back
   (nobody restarts it); every scan that was answered 201 is in the database afterwards.

    python -m reliability.faults --users 16 --duration 60          # the long run
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

from reliability.load import PASSWORD, LoadDriver, LoadReport, missing_scans, service_env
from reliability.servers import MariaDBServer, ServiceProcess, wait_until

LLM_RISKS = {"The vendor may fail to deliver the servers before the go-live date.": "schedule"}
LLM_TIMEOUT_S = 5  # a good answer under load stays well inside it
#: force_llm status for each behaviour of the fake LLM (testkit/llm_server.py).
LLM_FAULTS = {"hang": 504, "error_500": 502, "prose": 502, "broken_json": 502,
              "redirect": 502, "not_openai": 502}
RECOVERY_LIMIT_S = 5.0


@dataclass
class FaultReport:
    checks: dict[str, bool] = field(default_factory=dict)
    figures: dict[str, object] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks[name] = bool(ok)
        if not ok:
            self.problems.append(f"{name}: {detail}" if detail else name)

    @property
    def ok(self) -> bool:
        return all(self.checks.values())

    def text(self) -> str:
        lines = [f"{'PASS' if ok else 'FAIL'}  {name}" for name, ok in self.checks.items()]
        lines += [f"  {k}: {v}" for k, v in self.figures.items()]
        lines += [f"PROBLEM {p}" for p in self.problems]
        return "\n".join(lines)


class Client:
    """A registered user of the service, for the fault scripts' own requests."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.session = requests.Session()
        self.email = f"faults-{uuid.uuid4().hex[:10]}@example.com"
        registered = self.post("/api/v1/auth/register",
                               json={"email": self.email, "password": PASSWORD})
        registered.raise_for_status()
        self.id = registered.json()["id"]
        self.login()

    def login(self) -> None:
        response = self.post("/api/v1/auth/login",
                             json={"email": self.email, "password": PASSWORD})
        response.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def post(self, path, **kwargs):
        return self.session.post(self.base_url + path, timeout=30, allow_redirects=False,
                                 **kwargs)

    def get(self, path, **kwargs):
        return self.session.get(self.base_url + path, timeout=30, allow_redirects=False,
                                **kwargs)


def _in_background(driver: LoadDriver) -> tuple[threading.Thread, list[LoadReport]]:
    reports: list[LoadReport] = []
    thread = threading.Thread(target=lambda: reports.append(driver.run()), daemon=True)
    thread.start()
    return thread, reports


def _rows(database_url: str, sql: str, **params) -> list[tuple]:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]
    finally:
        engine.dispose()


def _no_server_errors(report: FaultReport, name: str, load: LoadReport,
                      allowed: tuple[int, ...] = ()) -> None:
    bad = [s for s in load.samples if (s.status is None or s.status >= 500)
           and s.status not in allowed]
    report.check(name, not bad, f"{len(bad)} answers: "
                 + ", ".join(sorted({f'{s.op} {s.kind}' for s in bad})))


# --------------------------------------------------------------------------- 1. exception

def exception_in_a_request(base_url: str, database_url: str, upload_dir: Path,
                           report: FaultReport, *, users: int, duration_s: float) -> None:
    victim = Client(base_url)
    (upload_dir / victim.id).parent.mkdir(parents=True, exist_ok=True)
    (upload_dir / victim.id).write_text("not a folder")  # UPLOAD_DIR/<user_id> can't be made
    thread, loads = _in_background(LoadDriver(base_url, users=users, duration_s=duration_s,
                                              seed=11))
    time.sleep(min(2.0, duration_s / 3))
    answers = [victim.post("/api/v1/scans", files={"file": ("plan.txt", io.BytesIO(
        b"The vendor may fail to deliver the servers before the go-live date."))})
        for _ in range(3)]
    after_text = victim.post("/api/v1/scans", json={"text": "The vendor may slip."})
    thread.join()
    load = loads[0]
    bodies = [a.json() if a.headers.get("Content-Type", "").startswith(
        "application/problem+json") else {} for a in answers]
    report.check("exception: 500 problem+json with an error_id",
                 all(a.status_code == 500 and b.get("error_id") for a, b in zip(answers, bodies)),
                 str([a.status_code for a in answers]))
    report.check("exception: no traceback or path in the answer",
                 not any("Traceback" in a.text or "File \"" in a.text or str(upload_dir) in a.text
                         for a in answers))
    report.check("exception: the same user's next scan (no file) succeeds",
                 after_text.status_code == 201, str(after_text.status_code))
    stored = _rows(database_url, "SELECT COUNT(*) FROM scans WHERE user_id = :u AND "
                                 "stored_filename IS NOT NULL", u=victim.id)[0][0]
    report.check("exception: no row for the failed scans", stored == 0, f"{stored} rows")
    _no_server_errors(report, "exception: the service goes on serving everyone else", load)
    report.figures["exception load"] = load.summary()["statuses"]


# --------------------------------------------------------------------------- 2. the LLM

def llm_faults(base_url: str, database_url: str, upload_dir: Path, llm, report: FaultReport,
               *, users: int, per_fault: int = 4) -> None:
    client = Client(base_url)
    text = " ".join(LLM_RISKS) + " The team met on Tuesday."
    outcomes: dict[str, list[int]] = {}
    calls_before = _rows(database_url, "SELECT COUNT(*) FROM llm_calls")[0][0]
    scans_before = _rows(database_url, "SELECT COUNT(*) FROM scans WHERE source = 'llm'")[0][0]
    behaviours = ["good", *LLM_FAULTS, "good"]
    driver = LoadDriver(base_url, users=users, duration_s=3600, seed=23)
    thread, loads = _in_background(driver)  # model scans all along
    try:
        for behaviour in behaviours:
            llm.behaviour = behaviour
            statuses: list[int] = []
            lock = threading.Lock()

            def one(kind: str, statuses=statuses, lock=lock) -> None:
                if kind == "file":
                    response = client.post("/api/v1/scans", data={"force_llm": "true"},
                                           files={"file": ("plan.txt", io.BytesIO(text.encode()))})
                else:
                    response = client.post("/api/v1/scans", json={"text": text,
                                                                  "force_llm": True})
                with lock:
                    statuses.append(response.status_code)

            workers = [threading.Thread(target=one, args=("file" if i % 2 else "text",))
                       for i in range(per_fault)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(timeout=LLM_TIMEOUT_S * 4 + 30)
            outcomes.setdefault(behaviour, []).extend(statuses)
    finally:
        llm.behaviour = "good"
        driver.stop()
        thread.join()
    good = outcomes.pop("good")
    report.check("llm: good answers are 201", good and all(s == 201 for s in good), str(good))
    for behaviour, expected in LLM_FAULTS.items():
        got = outcomes[behaviour]
        report.check(f"llm: {behaviour} is {expected}", got and all(s == expected for s in got),
                     str(got))
    scans_after = _rows(database_url, "SELECT COUNT(*) FROM scans WHERE source = 'llm'")[0][0]
    report.check("llm: no scan row for a failed LLM scan",
                 scans_after - scans_before == len(good),
                 f"{scans_after - scans_before} new llm scans for {len(good)} answered 201")
    stored = _rows(database_url, "SELECT COUNT(*) FROM scans WHERE user_id = :u AND "
                                 "stored_filename IS NOT NULL", u=client.id)[0][0]
    folders = [p for p in (upload_dir / client.id).glob("*")] \
        if (upload_dir / client.id).is_dir() else []
    report.check("llm: no stored file for a failed LLM scan", len(folders) == stored,
                 f"{len(folders)} folders for {stored} stored scans")
    failed_calls = _rows(database_url, "SELECT status, COUNT(*) FROM llm_calls WHERE "
                                       "scan_id IS NULL GROUP BY status")
    calls_after = _rows(database_url, "SELECT COUNT(*) FROM llm_calls")[0][0]
    report.check("llm: every call is logged, the failed ones without a scan",
                 calls_after - calls_before >= len(good) + sum(map(len, outcomes.values()))
                 and {s for s, _ in failed_calls} >= {"timeout", "http_error", "invalid_output",
                                                        "redirect"}, str(failed_calls))
    redirected = [r for r in llm.requests if r.method != "POST"
                  or r.path != "/v1/chat/completions"]
    report.check("llm: a redirect is never followed", not redirected,
                 str([(r.method, r.path) for r in redirected]))
    load = loads[0]
    _no_server_errors(report, "llm: model scans and the rest go on without a 5xx", load)
    report.figures["llm outcomes"] = {"good": good, **outcomes}
    report.figures["llm load"] = load.summary()["statuses"]


# --------------------------------------------------------------------------- 3. the database

def database_restart(base_url: str, database_url: str, mariadb: MariaDBServer,
                     report: FaultReport, *, users: int, duration_s: float,
                     outage_s: float = 3.0) -> None:
    probe = Client(base_url)
    driver = LoadDriver(base_url, users=users, duration_s=duration_s, seed=31, upload_share=0.1)
    thread, loads = _in_background(driver)
    time.sleep(max(2.0, duration_s * 0.25))
    down_started = time.monotonic() - driver._started
    mariadb.stop()
    down_confirmed = time.monotonic() - driver._started
    during = [probe.get("/api/v1/auth/me"), probe.get("/api/v1/scans"),
              probe.post("/api/v1/auth/login", json={"email": probe.email,
                                                     "password": PASSWORD})]
    time.sleep(outage_s)
    restart_called = time.monotonic() - driver._started
    mariadb.start()
    up_at = time.monotonic()
    up_confirmed = up_at - driver._started

    def serving() -> bool:
        try:
            return probe.get("/api/v1/auth/me").status_code == 200 \
                and probe.get("/ready").status_code == 200
        except requests.RequestException:
            return False

    recovered = wait_until(serving, 30, 0.05)
    recovery_s = time.monotonic() - up_at
    thread.join()
    load = loads[0]

    # Surely in the outage: sent once the server stopped answering, answered before its
    # restart began (the restart itself takes a second or two, serving part of the time).
    in_outage = [s for s in load.samples
                 if s.started >= down_confirmed and s.started + s.elapsed <= restart_called]
    not_503 = [s for s in in_outage if s.status != 503]
    report.check("db: requests during the outage get 503", in_outage and not not_503,
                 f"{len(in_outage)} in the outage, others: "
                 + str(sorted({f'{s.op} {s.kind}' for s in not_503})))
    report.check("db: the probe's requests during the outage get 503",
                 [r.status_code for r in during] == [503, 503, 503],
                 str([r.status_code for r in during]))
    no_retry_after = [s for s in load.samples if s.status == 503 and not s.retry_after] + \
        [r for r in during if r.status_code == 503 and not r.headers.get("Retry-After")]
    report.check("db: every 503 carries Retry-After", not no_retry_after,
                 f"{len(no_retry_after)} without")
    _no_server_errors(report, "db: no 500 and no dropped connection, ever", load,
                      allowed=(503,))
    report.check(f"db: the service recovers by itself within {RECOVERY_LIMIT_S:g} s",
                 recovered and recovery_s <= RECOVERY_LIMIT_S, f"{recovery_s:.2f} s")
    after_recovery = [s for s in load.samples if s.started > up_confirmed + recovery_s]
    report.check("db: after recovery every request is served again",
                 after_recovery and not [s for s in after_recovery
                                         if s.status is None or s.status >= 500],
                 str(sorted({s.kind for s in after_recovery})))
    lost = missing_scans(database_url, load.kept())
    report.check("db: every scan answered 201 is in the database", not lost,
                 f"{len(lost)} missing")
    # A DELETE committed as the server went down is answered 503: a client cannot tell it
    # from one that was not (nor can anyone), so those scans are counted, not asserted.
    unsure_gone = missing_scans(database_url, load.unsure)
    report.figures.update({
        "db outage (s)": round(up_confirmed - down_started, 2),
        "db recovery after restart (s)": round(recovery_s, 2),
        "db requests during the outage": len(in_outage),
        "db load": load.summary()["statuses"],
        "db scans answered 201": len(load.created),
        "db DELETEs unanswered (gone, kept)": (len(unsure_gone),
                                               len(load.unsure) - len(unsure_gone)),
    })


# --------------------------------------------------------------------------- all three

def run_faults(model_dir: str, *, users: int = 8, duration_s: float = 12,
               workdir: Path | None = None,
               scenarios=("exception", "llm", "database", "lifecycle")) -> FaultReport:
    from testkit.llm_server import FakeLLMServer

    report = FaultReport()
    mariadb = MariaDBServer()
    with tempfile.TemporaryDirectory(prefix="riskscan-faults-") as tmp, \
            FakeLLMServer(risks=LLM_RISKS) as llm:
        llm.hang_s = LLM_TIMEOUT_S * 5
        work = Path(workdir or tmp)
        upload_dir = work / "uploads"
        try:
            url = mariadb.start()
            env = service_env(url, model_dir, str(upload_dir), LLM_BASE_URL=llm.base_url,
                              LLM_MODEL="fake-llm", LLM_TIMEOUT_S=str(LLM_TIMEOUT_S))
            with ServiceProcess(env, work / "service.log") as service:
                if "exception" in scenarios:
                    exception_in_a_request(service.base_url, url, upload_dir, report,
                                           users=max(2, users // 2),
                                           duration_s=max(4.0, duration_s / 3))
                if "llm" in scenarios:
                    llm_faults(service.base_url, url, upload_dir, llm, report,
                               users=max(2, users // 2))
                if "database" in scenarios:
                    database_restart(service.base_url, url, mariadb, report, users=users,
                                     duration_s=duration_s)
                report.check("the service process never died", service.alive())
                log = service.log_path.read_text(errors="replace")
                report.check("the log holds no secret", PASSWORD not in log)
                if report.problems:  # what the service itself said, to find the cause
                    report.figures["service errors"] = [
                        line[:400] for line in log.splitlines()
                        if '"level": "ERROR"' in line and "database unavailable" not in line
                    ][-5:]
            if "lifecycle" in scenarios:  # a service of its own: it ends with a SIGTERM
                from reliability.lifecycle import run_lifecycle

                run_lifecycle(model_dir, url, work, llm, env, report, PASSWORD)
        finally:
            mariadb.shutdown()
    return report


def _cli() -> int:
    import os

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--duration", type=float, default=60,
                        help="seconds of load around the database restart (default 60)")
    parser.add_argument("--model-dir", default="", help="default: MODEL_DIR or models_cache")
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--scenario", action="append", dest="scenarios",
                        choices=("exception", "llm", "database", "lifecycle"),
                        help="only this one (repeatable; default all)")
    args = parser.parse_args()
    report = run_faults(args.model_dir or os.environ.get("MODEL_DIR", "models_cache"),
                        users=args.users, duration_s=args.duration,
                        **({"scenarios": tuple(args.scenarios)} if args.scenarios else {}))
    print(report.text())
    if args.json:
        args.json.write_text(json.dumps({"checks": report.checks, "figures": report.figures,
                                         "problems": report.problems}, indent=2, default=str))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(_cli())
