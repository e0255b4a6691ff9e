"""Load, CI length: 8 virtual users for 12 s of mixed traffic (register, login, scan, list,
get, delete) against ``python -m service`` on waitress, with the real model and MariaDB.
``make reliability`` runs 16 users for 60 s (reliability/load.py)."""

from __future__ import annotations

import pytest

from reliability.load import LoadDriver, missing_scans, service_env
from reliability.servers import ServiceProcess, create_database, drop_database
from tests.helpers import mysql_server_url

pytestmark = [pytest.mark.slow, pytest.mark.mysql]


@pytest.fixture
def load_database_url():
    """A database of its own on the TEST_MYSQL_URL server, dropped afterwards."""
    url = mysql_server_url("the load test runs on MariaDB")
    database = create_database(url, "load")
    yield database
    drop_database(database)


def test_mixed_traffic_from_8_users_gets_no_5xx_and_loses_no_scan(load_database_url,
                                                                  scan_model_dir, tmp_path):
    env = service_env(load_database_url, str(scan_model_dir), str(tmp_path / "uploads"))
    with ServiceProcess(env, tmp_path / "service.log") as service:
        report = LoadDriver(service.base_url, users=8, duration_s=12, min_requests=150,
                            max_requests=5000).run()
        alive = service.alive()
        log = service.log_path.read_text(errors="replace")
    summary = report.text()
    print(summary)

    assert alive, log[-2000:]
    assert report.server_errors() == [], summary
    assert report.errors_by_kind() == {}, summary  # no 5xx, no timeout, no unexpected 4xx
    assert report.requests >= 100, summary
    seen = {s.op for s in report.samples}
    assert {"register", "login", "scan", "list", "get", "delete"} <= seen, seen
    assert len(report.created) >= 20 and report.deleted, summary
    assert missing_scans(load_database_url, report.created - report.deleted) == set()
    assert report.latency()["p99_ms"] < 20_000, summary
    assert '"status": 500' not in log and "Traceback" not in log
