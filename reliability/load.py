"""Load: mixed traffic from concurrent virtual users against ``python -m service`` on waitress.

Each virtual user registers, logs in, then until the time or the request budget runs out
picks one of: scan (a text, or now and then a PDF or text upload), list its scans, get one,
delete one, log in again, or start over as a new user (register). A thread per user, one
``requests`` session each, every request with a timeout; loopback only. The report gives
requests, throughput, errors by kind, and p50/p95/p99 latency overall and per operation.

    python -m reliability.load --users 16 --duration 60            # the long run
    python -m reliability.load --users 8 --duration 15 --database sqlite

By default the service runs on a MariaDB server of the driver's own (a free port, started
with .ci/start-mariadb, removed afterwards), with the model in MODEL_DIR (or models_cache)
and rate limits off.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import random
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

from testkit.documents import PLAIN_SENTENCES, RISKY_SENTENCES, make_pdf

PASSWORD = "correct horse battery"
OPERATIONS = {"scan": 30, "list": 22, "get": 25, "delete": 10, "login": 6, "register": 3,
              "me": 4}

# The test documents' sentences, and two more of the kinds a register holds.
SENTENCES = RISKY_SENTENCES + PLAIN_SENTENCES + (
    "The steering committee has not met since March.",
    "Integration testing depends on a supplier API that is still in beta.",
)


@dataclass
class Sample:
    op: str
    started: float  # seconds since the run started
    elapsed: float
    status: int | None
    error: str | None = None  # for failures without a status: timeout, connection refused…
    retry_after: str | None = None
    scan_id: str | None = None

    @property
    def kind(self) -> str:
        if self.status is None:
            return self.error or "no answer"
        return f"http {self.status}"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


@dataclass
class LoadReport:
    users: int
    duration_s: float
    samples: list[Sample] = field(default_factory=list)
    created: set[str] = field(default_factory=set)  # scans answered 201
    deleted: set[str] = field(default_factory=set)  # scans answered 204 to a DELETE
    # Scans whose DELETE got a 5xx or no answer: the database may have committed it and lost
    # only the acknowledgement (a restart cuts the connection between the two).
    unsure: set[str] = field(default_factory=set)

    def kept(self) -> set[str]:
        """The scans the database must hold: answered 201, and never deleted, nor sent a
        DELETE whose outcome nobody learnt."""
        return self.created - self.deleted - self.unsure

    @property
    def requests(self) -> int:
        return len(self.samples)

    def statuses(self) -> collections.Counter:
        return collections.Counter(s.kind for s in self.samples)

    def errors_by_kind(self) -> collections.Counter:
        """Everything a client would count as an error: 5xx, no answer, and 4xx other than
        the expected 404 of a scan another thread of the same user had just deleted."""
        return collections.Counter(s.kind for s in self.samples
                                   if s.status is None or s.status >= 500
                                   or (s.status >= 400 and s.status != 404))

    def server_errors(self) -> list[Sample]:
        return [s for s in self.samples if s.status is not None and s.status >= 500]

    def latency(self, op: str | None = None) -> dict[str, float]:
        values = [s.elapsed for s in self.samples if op is None or s.op == op]
        return {"p50_ms": round(percentile(values, 50) * 1000, 1),
                "p95_ms": round(percentile(values, 95) * 1000, 1),
                "p99_ms": round(percentile(values, 99) * 1000, 1),
                "max_ms": round(max(values, default=0) * 1000, 1)}

    def summary(self) -> dict:
        ops = collections.Counter(s.op for s in self.samples)
        return {
            "users": self.users,
            "duration_s": round(self.duration_s, 1),
            "requests": self.requests,
            "requests_per_s": round(self.requests / max(self.duration_s, 1e-9), 1),
            "statuses": dict(sorted(self.statuses().items())),
            "errors_by_kind": dict(sorted(self.errors_by_kind().items())),
            "latency": self.latency(),
            "per_operation": {op: {"requests": n, **self.latency(op)}
                              for op, n in sorted(ops.items())},
            "scans_created": len(self.created),
            "scans_deleted": len(self.deleted),
        }

    def text(self) -> str:
        s = self.summary()
        latency = s["latency"]
        lines = [(f"{s['requests']} requests from {s['users']} users in {s['duration_s']} s "
                  f"({s['requests_per_s']}/s)"),
                 f"statuses: {s['statuses']}",
                 f"errors by kind: {s['errors_by_kind'] or 'none'}",
                 (f"latency: p50 {latency['p50_ms']} ms, p95 {latency['p95_ms']} ms, "
                  f"p99 {latency['p99_ms']} ms, max {latency['max_ms']} ms")]
        for op, row in s["per_operation"].items():
            lines.append(f"  {op:9s} {row['requests']:6d}  p50 {row['p50_ms']:8.1f}  "
                         f"p95 {row['p95_ms']:8.1f}  p99 {row['p99_ms']:8.1f} ms")
        lines.append(f"scans created {s['scans_created']}, deleted {s['scans_deleted']}")
        return "\n".join(lines)


class LoadDriver:
    """Virtual users on threads; stops at ``duration_s`` or after ``max_requests``.

    ``min_requests`` keeps it going past ``duration_s`` (up to four times it) until that
    many were sent: on a slow or shared machine a test then runs longer instead of
    asserting on too little traffic.
    """

    def __init__(self, base_url: str, *, users: int = 16, duration_s: float = 60,
                 max_requests: int = 50_000, min_requests: int = 0, timeout_s: float = 30,
                 seed: int = 1, operations: dict[str, int] | None = None,
                 upload_share: float = 0.1, llm_share: float = 0.0):
        if not base_url.startswith(("http://127.", "http://localhost", "http://[::1]")):
            raise ValueError("load goes to loopback addresses only")
        self.base_url = base_url
        self.users = users
        self.duration_s = duration_s
        self.max_requests = max_requests
        self.min_requests = min_requests
        self.timeout_s = timeout_s
        self.seed = seed
        self.operations = operations or OPERATIONS
        self.upload_share = upload_share
        self.llm_share = llm_share  # text scans sent with force_llm (op "scan-llm")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._started = 0.0
        self._sent = 0
        self.report = LoadReport(users=users, duration_s=0)

    # -- bookkeeping ----------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    def _budget(self) -> bool:
        with self._lock:
            elapsed = time.monotonic() - self._started
            if self._stop.is_set() or self._sent >= self.max_requests \
                    or elapsed >= 4 * self.duration_s \
                    or (elapsed >= self.duration_s and self._sent >= self.min_requests):
                return False
            self._sent += 1
            return True

    def _request(self, session, op, method, path, **kwargs) -> requests.Response | None:
        started = time.monotonic()
        response, error = None, None
        try:
            response = session.request(method, self.base_url + path, timeout=self.timeout_s,
                                       allow_redirects=False, **kwargs)
        except requests.Timeout:
            error = "timeout"
        except requests.ConnectionError as exc:
            error = "connection refused" if "refused" in str(exc).lower() else "connection error"
        elapsed = time.monotonic() - started
        sample = Sample(op=op, started=started - self._started, elapsed=elapsed,
                        status=response.status_code if response is not None else None,
                        error=error,
                        retry_after=response.headers.get("Retry-After") if response is not None
                        else None)
        if response is not None and op.startswith("scan") and response.status_code == 201:
            sample.scan_id = response.json()["scan_id"]
        with self._lock:
            self.report.samples.append(sample)
            if sample.scan_id:
                self.report.created.add(sample.scan_id)
        return response

    # -- a virtual user -------------------------------------------------------------------

    def _user(self, number: int) -> None:
        rng = random.Random(self.seed * 1000 + number)
        session = requests.Session()
        email = token = None
        owned: list[str] = []
        ops, weights = zip(*self.operations.items())
        while not self._stop.is_set():
            if token is None:
                op = "register" if email is None else "login"
            else:
                op = rng.choices(ops, weights)[0]
                if op in ("delete", "get") and not owned:
                    op = "scan"
            if not self._budget():
                return
            if op == "register":  # start over as a new user
                new_email = f"load-{uuid.uuid4().hex[:12]}@example.com"
                response = self._request(session, "register", "POST", "/api/v1/auth/register",
                                         json={"email": new_email, "password": PASSWORD})
                if response is None or response.status_code != 201:
                    self._pause(rng)
                    continue
                email, token, owned = new_email, None, []
                session.headers.pop("Authorization", None)
                continue
            if op == "login":
                response = self._request(session, "login", "POST", "/api/v1/auth/login",
                                         json={"email": email, "password": PASSWORD})
                if response is not None and response.status_code == 200:
                    token = response.json()["access_token"]
                    session.headers["Authorization"] = f"Bearer {token}"
                else:
                    self._pause(rng)
                continue
            response = None
            if op == "scan":
                response = self._scan(session, rng)
                if response is not None and response.status_code == 201:
                    owned.append(response.json()["scan_id"])
            elif op == "list":
                response = self._request(session, "list", "GET",
                                         f"/api/v1/scans?per_page={rng.choice((5, 20, 100))}"
                                         f"&page={rng.choice((1, 1, 2))}")
            elif op == "get":
                scan_id = rng.choice(owned)
                response = self._request(session, "get", "GET", f"/api/v1/scans/{scan_id}")
            elif op == "delete":
                scan_id = owned.pop(rng.randrange(len(owned)))
                response = self._request(session, "delete", "DELETE", f"/api/v1/scans/{scan_id}")
                if self._answered_delete(scan_id, response):
                    owned.append(scan_id)  # not known to be deleted: try again later
            elif op == "me":
                response = self._request(session, "me", "GET", "/api/v1/auth/me")
            if response is not None and response.status_code == 401:
                token = None  # e.g. the token expired: log in again

    def _answered_delete(self, scan_id: str, response: requests.Response | None) -> bool:
        """Record what a DELETE's answer says of the scan; True when its fate is unknown.
        A 404 after an unanswered DELETE is that DELETE's commit, not a lost scan."""
        status = response.status_code if response is not None else None
        with self._lock:
            if status == 204 or (status == 404 and scan_id in self.report.unsure):
                self.report.deleted.add(scan_id)
                self.report.unsure.discard(scan_id)
            elif status is None or status >= 500:
                self.report.unsure.add(scan_id)
                return True
        return False

    def _scan(self, session, rng):
        sentences = rng.sample(SENTENCES, rng.randint(2, 6))
        if rng.random() < self.upload_share:
            if rng.random() < 0.5:
                data, name = make_pdf(sentences), "plan.pdf"
            else:
                data, name = "\n".join(sentences).encode(), "notes.txt"
            return self._request(session, "scan", "POST", "/api/v1/scans",
                                 files={"file": (name, io.BytesIO(data))})
        if rng.random() < self.llm_share:
            return self._request(session, "scan-llm", "POST", "/api/v1/scans",
                                 json={"text": " ".join(sentences), "force_llm": True})
        return self._request(session, "scan", "POST", "/api/v1/scans",
                             json={"text": " ".join(sentences)})

    def _pause(self, rng) -> None:
        self._stop.wait(0.05 + rng.random() * 0.2)

    # -- the run --------------------------------------------------------------------------

    def run(self) -> LoadReport:
        self._started = time.monotonic()
        threads = [threading.Thread(target=self._user, args=(i,), name=f"vu-{i}", daemon=True)
                   for i in range(self.users)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=self.duration_s + self.timeout_s + 30)
        self._stop.set()
        self.report.duration_s = time.monotonic() - self._started
        return self.report


def missing_scans(database_url: str, scan_ids: set[str]) -> set[str]:
    """The scans among ``scan_ids`` that are not in the database."""
    from sqlalchemy import create_engine, text

    if not scan_ids:
        return set()
    engine = create_engine(database_url)
    found: set[str] = set()
    ids = sorted(scan_ids)
    with engine.connect() as connection:
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ", ".join(f":id{j}" for j in range(len(chunk)))
            rows = connection.execute(text(f"SELECT id FROM scans WHERE id IN ({marks})"),
                                      {f"id{j}": v for j, v in enumerate(chunk)})
            found.update(row[0] for row in rows)
    engine.dispose()
    return scan_ids - found


def service_env(database_url: str, model_dir: str, upload_dir: str, **extra) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "MODEL_DIR": model_dir, "UPLOAD_DIR": upload_dir,
            "RATE_LIMIT_ENABLED": "false", "MODEL_DEVICE": "cpu", **extra}


def _cli() -> int:
    from reliability.servers import MariaDBServer, ServiceProcess

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--duration", type=float, default=60, help="seconds (default 60)")
    parser.add_argument("--max-requests", type=int, default=100_000)
    parser.add_argument("--database", choices=("mariadb", "sqlite"), default="mariadb")
    parser.add_argument("--database-url", default="", help="use this database instead")
    parser.add_argument("--model-dir", default="", help="default: MODEL_DIR or models_cache")
    parser.add_argument("--threads", type=int, default=8, help="WAITRESS_THREADS")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()

    import os

    model_dir = args.model_dir or os.environ.get("MODEL_DIR", "models_cache")
    mariadb = None
    with tempfile.TemporaryDirectory(prefix="riskscan-load-") as tmp:
        if args.database_url:
            url = args.database_url
        elif args.database == "mariadb":
            mariadb = MariaDBServer()
            url = mariadb.start()
        else:
            url = f"sqlite:///{tmp}/load.db"
        service = ServiceProcess(service_env(url, model_dir, f"{tmp}/uploads",
                                             WAITRESS_THREADS=str(args.threads)),
                                 Path(tmp) / "service.log")
        try:
            with service:
                print(f"service on {service.base_url} ({args.database}), "
                      f"{args.users} users for {args.duration:g} s", file=sys.stderr)
                report = LoadDriver(service.base_url, users=args.users,
                                    duration_s=args.duration,
                                    max_requests=args.max_requests).run()
                alive = service.alive()
            lost = missing_scans(url, report.kept())
        finally:
            if mariadb is not None:
                mariadb.shutdown()
    print(report.text())
    print(f"scans answered 201 and missing from the database: {len(lost)}")
    if args.json:
        args.json.write_text(json.dumps({**report.summary(), "lost_scans": len(lost),
                                         "server_errors": [asdict(s) for s in
                                                           report.server_errors()[:20]]},
                                        indent=2))
    ok = not report.server_errors() and not lost and alive \
        and not any(s.status is None for s in report.samples)
    print("PASS" if ok else "FAIL: 5xx, lost scans, no answer, or the service died")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(_cli())
