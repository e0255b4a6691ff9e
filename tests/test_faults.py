"""Faults under load, CI length (reliability/faults.py; ``make reliability`` runs it with 16
users and a minute of load): an exception inside a request, the LLM hanging, failing,
answering garbage and redirecting, and MariaDB restarted — on a MariaDB server of the test's
own, never the shared one."""

from __future__ import annotations

import shutil

import pytest

from reliability.faults import run_faults
from service.auth.tokens import verify_access_token
from service.extensions import db
from tests.real_parts import require_or_skip
from tests.scanning import statements_run


@pytest.fixture
def mariadb_available():
    if shutil.which("mariadbd") is None:
        require_or_skip("mariadbd is not installed: the fault tests start a server of their "
                        "own", mysql=True)


@pytest.mark.slow
@pytest.mark.mysql
def test_the_service_survives_an_exception_llm_faults_and_a_database_restart_under_load(
        mariadb_available, scan_model_dir, tmp_path):
    report = run_faults(str(scan_model_dir), users=8, duration_s=12, workdir=tmp_path)
    print(report.text())
    failed = [name for name, ok in report.checks.items() if not ok]
    assert not failed, report.text()
    # Each promise was checked, not skipped.
    for name in ("exception: 500 problem+json with an error_id", "llm: hang is 504",
                 "llm: error_500 is 502", "llm: prose is 502", "llm: redirect is 502",
                 "llm: no scan row for a failed LLM scan", "db: requests during the outage get 503",
                 "db: every 503 carries Retry-After",
                 "db: the service recovers by itself within 5 s",
                 "db: every scan answered 201 is in the database"):
        assert report.checks.get(name) is True, name
    assert report.figures["db requests during the outage"] > 0


def test_the_caller_is_read_without_the_database_after_a_commit_or_a_rollback(app, accounts):
    """What the restart test found: the request log read ``caller.id`` after the view's
    commit (or the 503 handler's rollback) had expired it, so the read went back to a
    database that had just gone away, and a committed DELETE answered 500. The caller is now
    loaded outside the session: no query after authentication."""
    user, _ = accounts.user()
    with app.test_request_context():
        caller = verify_access_token(user["tokens"]["access_token"])
        with statements_run(app) as statements:
            db.session.commit()
            db.session.rollback()
            seen = (caller.id, caller.role, caller.is_admin, caller.email)
    assert seen == (user["id"], "user", False, user["email"])
    assert statements == []
