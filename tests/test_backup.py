"""Backup and restore of a whole deployment (issue #76): a deployment's archive restored into
an empty one, SQLite into SQLite, SQLite into MariaDB and MariaDB into SQLite, answers its
people the same (scans, findings, corrections, the register with its history and merges,
members, webhooks, API keys, the audit log) and serves the same model version; ids are
never given again; a second restore is refused; an older schema's archive is migrated
forward.

Each deployment is the tests' own (tests/backups.py): a backup reads every table."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from flask_migrate import downgrade
from sqlalchemy import func, select

from reliability.servers import create_database, drop_database
from service.db import Scan, User
from service.extensions import db
from service.serving import deployment
from tests.backups import (
    TEXT,
    People,
    add_finding,
    answers,
    command_app,
    deployment_settings,
    populate,
    restore_into,
    run,
    serve,
    stop,
)
from tests.helpers import mysql_server_url
from tests.registry import own_root


@dataclasses.dataclass
class Backup:
    archive: Path
    people: People
    expected: dict
    output: str


def back_up(settings, archive: Path):
    """``flask backup`` as an operator runs it beside the serving process."""
    app = command_app(settings)
    try:
        return run(app, "backup", str(archive))
    finally:
        stop(app)


def made(folder: Path, database_url: str, models: Path | None, *, activate=None,
         analyzer=None) -> Backup:
    """A deployment on ``database_url`` filled by its people, read, and backed up."""
    settings = deployment_settings(folder, database_url, models)
    app = serve(settings, migrate=True)
    try:
        if analyzer is not None:
            app.extensions["riskscan.analyzers"].model = analyzer
        people = populate(app, activate=activate)
        expected = answers(app, people)
        archive = folder / "riskscan-backup.tar"
        result = back_up(settings, archive)
        assert result.exit_code == 0, result.output
    finally:
        stop(app)
    return Backup(archive, people, expected, result.output)


@pytest.fixture(scope="module")
def sqlite_backup(tmp_path_factory, models_root) -> Backup:
    """A SQLite deployment serving v2 (activated over v1), backed up."""
    folder = tmp_path_factory.mktemp("source")
    models = own_root(folder / "models", models_root, ["v1", "v2"])
    return made(folder, f"sqlite:///{folder / 'riskscan.db'}", models, activate="v2")


@pytest.fixture
def mariadb_url():
    """A MariaDB database of the test's own, dropped afterwards."""
    url = create_database(mysql_server_url("no MariaDB server to restore into"), "backup")
    yield url
    drop_database(url)


def restored(folder: Path, database_url: str, backup: Backup, *, version: str | None):
    """Restore ``backup`` into an empty deployment in ``folder``; check that it answers as
    the backed-up one did and serves ``version``. Its settings."""
    settings = deployment_settings(folder, database_url,
                                   folder / "models" if version is not None else None)
    result = restore_into(settings, backup.archive)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("restored ") and result.output.count("\n") == 1
    app = serve(settings)
    try:
        deployment.sync(app)  # the process follows the deployment row, as it does at start
        assert answers(app, backup.people) == backup.expected
        client = app.test_client()
        _ids_go_on(client, backup.people)
        if version is not None:
            scanned = client.post("/api/v1/scans", headers=backup.people.editor_h,
                                  json={"text": TEXT})
            assert scanned.status_code == 201, scanned.get_json()
            assert scanned.get_json()["model_version"] == version
    finally:
        stop(app)
    return settings


def _ids_go_on(client, people: People) -> None:
    """The deleted finding's id and the merged-away risk's are not given again."""
    added = add_finding(client, people.editor_h, people.scans[0], people.unreported)
    assert added > people.deleted_finding
    risk = client.post(f"/api/v1/projects/{people.project_id}/risks", headers=people.editor_h,
                       json={"risk": "The data centre lease ends in June.",
                             "category": "technical"})
    assert risk.status_code == 201, risk.get_json()
    assert risk.get_json()["id"] > max(people.merged_risk, people.kept_risk)


def test_sqlite_into_sqlite_answers_the_same_and_a_second_restore_is_refused(
        sqlite_backup, tmp_path):
    assert sqlite_backup.output.startswith("wrote ")
    assert "2 model versions" in sqlite_backup.output
    settings = restored(tmp_path, f"sqlite:///{tmp_path / 'restored.db'}", sqlite_backup,
                        version="v2")

    uploads = sorted(path for path in Path(settings.UPLOAD_DIR).rglob("*"))
    again = restore_into(settings, sqlite_backup.archive)
    assert again.exit_code == 1
    assert again.stderr.startswith("Error: the database is not empty")
    assert again.stderr.count("\n") == 1 and again.stdout == ""
    assert sorted(path for path in Path(settings.UPLOAD_DIR).rglob("*")) == uploads


@pytest.mark.mysql
def test_sqlite_into_mariadb_answers_the_same(sqlite_backup, tmp_path, mariadb_url):
    restored(tmp_path, mariadb_url, sqlite_backup, version="v2")


@pytest.mark.mysql
def test_mariadb_into_sqlite_answers_the_same(tmp_path, mariadb_url):
    from tests.scanning import KeywordAnalyzer

    backup = made(tmp_path / "source", mariadb_url, None, analyzer=KeywordAnalyzer())
    restored(tmp_path / "restored", f"sqlite:///{tmp_path / 'restored.db'}", backup,
             version=None)


def test_an_older_schemas_archive_is_migrated_forward(tmp_path):
    """A deployment one migration behind today's (its Riskscan not upgraded yet) is backed
    up as it is; its archive restores into today's schema, and its people sign in."""
    from tests.helpers import PASSWORD, Accounts
    from tests.scanning import KeywordAnalyzer

    source = deployment_settings(tmp_path / "old", f"sqlite:///{tmp_path / 'old.db'}", None)
    app = serve(source, migrate=True)
    try:
        app.extensions["riskscan.analyzers"].model = KeywordAnalyzer()
        client = app.test_client()
        user, headers = Accounts(app, client).user()
        scan = client.post("/api/v1/scans", headers=headers, json={"text": TEXT}).get_json()
        with app.app_context():
            from service.backup.load import migrations

            previous = migrations().get_revision(migrations().get_current_head()).down_revision
            downgrade(revision=previous)
            db.session.remove()
    finally:
        stop(app)
    archive = tmp_path / "old.tar"
    assert back_up(source, archive).exit_code == 0

    target = deployment_settings(tmp_path / "new", f"sqlite:///{tmp_path / 'new.db'}", None)
    result = restore_into(target, archive)
    assert result.exit_code == 0, result.output
    assert f"migrated from schema {previous}" in result.output
    app = serve(target)
    try:
        client = app.test_client()
        login = client.post("/api/v1/auth/login", json={"email": user["email"],
                                                        "password": PASSWORD})
        assert login.status_code == 200
        token = {"Authorization": f"Bearer {login.get_json()['access_token']}"}
        again = client.get(f"/api/v1/scans/{scan['scan_id']}", headers=token).get_json()
        assert again["data"] == scan["data"]
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(User)) == 1
            assert db.session.scalar(select(func.count()).select_from(Scan)) == 1
    finally:
        stop(app)
