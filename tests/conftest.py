"""Fixtures: an app per test on a fresh database, on SQLite and (when configured) MariaDB.

Every test that takes ``app`` or ``client`` runs once per backend. The MySQL/MariaDB run
needs ``TEST_MYSQL_URL`` (``.ci/run`` starts a server and sets it); without it those runs
are skipped, unless ``RISKSCAN_REQUIRE_REAL_PARTS=1`` (or the older
``RISKSCAN_REQUIRE_MYSQL=1``) makes the absence an error (tests/real_parts.py).
"""

from __future__ import annotations

import dataclasses
import os
import threading

import pytest
from argon2 import PasswordHasher, profiles
from flask_migrate import upgrade

from reliability.servers import create_database, drop_database
from service import create_app, shutdown
from service.auth import passwords
from service.config import Settings, current_settings
from service.extensions import db
from tests.helpers import RACE_TIMEOUT_S, Accounts, mysql_server_url
from tests.real_parts import ENGINE_AGNOSTIC

# The session-scoped trained model (trained_model_dir) and its fixtures.
pytest_plugins = ["tests.fixtures_model", "tests.projects", "tests.jobs", "tests.redis_server",
                  "tests.registry", "tests.findings", "tests.authorization", "tests.sso.provider",
                  "tests.readers", "tests.mail_relay"]

BACKENDS = ["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)]


def pytest_collection_modifyitems(config, items):
    """The MariaDB copies of ENGINE_AGNOSTIC's tests are deselected (pytest says how many)."""
    dropped = [item for item in items if item.path.name in ENGINE_AGNOSTIC
               and getattr(item, "callspec", None) is not None
               and item.callspec.params.get("backend") == "mysql"]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        dropped = set(dropped)
        items[:] = [item for item in items if item not in dropped]

CHEAP_HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)
CHEAP_DUMMY_HASH = CHEAP_HASHER.hash("riskscan-timing-equaliser")


@pytest.fixture(autouse=True)
def cheap_password_hashing(request, monkeypatch):
    """argon2id at argon2-cffi's testing profile instead of OWASP's costs (30 ms a hash on
    2 cores): the suite registers and signs in thousands of users, and the hashing was a
    quarter of its time. The same code hashes and verifies; a hash records its parameters.
    A test marked ``production_password_cost`` keeps the production hasher (its cost is
    the thing it checks)."""
    if request.node.get_closest_marker("production_password_cost"):
        return
    monkeypatch.setattr(passwords, "_hasher", CHEAP_HASHER)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", CHEAP_DUMMY_HASH)


def _forget_models_under(folder) -> None:
    """Only where a model was loaded: the loading module is not imported for the others."""
    import sys

    loading = sys.modules.get("service.serving.loading")
    if loading is not None:
        loading.forget_loaded_from(folder)


@pytest.fixture(autouse=True)
def models_leave_with_their_test(request):
    """A test's own model copies leave the process's cache of loaded models with it: the
    cache is per process, and a whole run held every copy any test loaded (a worker grew
    to 9 GB)."""
    yield
    tmp_path = (request.node.funcargs or {}).get("tmp_path")
    if tmp_path is not None:
        _forget_models_under(tmp_path)


@pytest.fixture(autouse=True, scope="module")
def models_leave_with_their_module(tmp_path_factory):
    """As models_leave_with_their_test, for what a module's fixtures copied; a session's
    copies under the same base are loaded again by the next module that serves them."""
    yield
    _forget_models_under(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def mysql_url():
    """A database of its own for this test session on the server TEST_MYSQL_URL names,
    dropped at the end: concurrent test runs never see each other's rows."""
    url = mysql_server_url("no MySQL/MariaDB server to test against")
    database = create_database(url, "test")
    yield database
    drop_database(database)


@pytest.fixture(scope="session")
def migrated(tmp_path_factory):
    """Backends whose schema the migrations have built, once per session each."""
    return {}


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def database_url(backend, request, tmp_path_factory):
    if backend == "mysql":
        return request.getfixturevalue("mysql_url")
    return f"sqlite:///{tmp_path_factory.getbasetemp() / 'riskscan-test.db'}"


@pytest.fixture
def settings(database_url, tmp_path):
    return Settings.from_env(
        {},
        RISKSCAN_ENV="testing",
        SECRET_KEY="test-secret-key-0123456789",
        DATABASE_URL=database_url,
        LOG_FORMAT="text",
        LOG_LEVEL="WARNING",
        MODEL_DIR="off",  # tests that scan take `scan_app`, which loads a real model
        MODEL_SYNC_S=0,  # no follower thread: a test calls service.serving.deployment.sync itself
        UPLOAD_DIR=str(tmp_path / "uploads"),
    )


@pytest.fixture
def make_app(settings, migrated):
    """Build an app on the test database, with settings overridden per test."""
    apps = []

    def make(*, migrate: bool = True, **overrides):
        """``migrate=False``: the test runs the migrations itself (on a database of its own)."""
        app = create_app(dataclasses.replace(settings, **overrides))
        app.config["TESTING"] = True
        # Warm, as /ready has it before traffic: no warm-up runs beside a test's own calls.
        assert app.extensions["riskscan.warmup"].done.wait(600), "the warm-up never ended"
        url = current_settings(app).DATABASE_URL  # the app's own, overrides included
        with app.app_context():
            if migrate and url not in migrated:
                upgrade()
                migrated[url] = True
        apps.append(app)
        return app

    yield make
    _shut_down(apps)
    for app in apps:
        with app.app_context():
            _empty_tables()
            db.engine.dispose()


def _shut_down(apps) -> None:
    """Stop every app's background work (service.shutdown: webhook timers, job threads,
    the shadow reader) before the tables are emptied: the session's apps share one
    database, and an earlier test's timer must not write into a later test's rows. A
    thread that never ends fails the test here instead of hanging the run."""
    errors = []

    def stop():
        try:
            for app in apps:
                shutdown(app)
        except BaseException as error:  # noqa: BLE001  (raised below)
            errors.append(error)

    stopping = threading.Thread(target=stop, name="app-teardown", daemon=True)
    stopping.start()
    stopping.join(RACE_TIMEOUT_S)
    assert not stopping.is_alive(), (
        f"the apps' background work did not stop within {RACE_TIMEOUT_S:.0f} s")
    if errors:
        raise errors[0]


def _empty_tables():
    db.session.remove()
    with db.engine.begin() as connection:
        for table in reversed(db.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def unmigrated_app(settings, backend, tmp_path):
    """An app on an empty database of the test's own (no migration run), for a test that
    runs the migrations itself; the database is dropped afterwards."""
    if backend == "mysql":
        url = create_database(mysql_server_url("no MySQL/MariaDB server to test against"),
                              "migrations")
    else:
        url = f"sqlite:///{tmp_path / 'unmigrated.db'}"
    app = create_app(dataclasses.replace(settings, DATABASE_URL=url))
    app.config["TESTING"] = True
    yield app
    _shut_down([app])
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if backend == "mysql":
        drop_database(url)


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture(scope="session")
def scan_model_dir(request):
    """The model the API tests scan with: a small one trained for the session (see
    tests/fixtures_model.py), or the one RISKSCAN_TEST_MODEL_DIR names."""
    configured = os.environ.get("RISKSCAN_TEST_MODEL_DIR")
    if configured:
        return configured
    return request.getfixturevalue("trained_model_dir")


@pytest.fixture
def scan_app(make_app, scan_model_dir):
    """An app with the transformer loaded (shared across apps of the session)."""
    return make_app(MODEL_DIR=str(scan_model_dir))


@pytest.fixture
def scan_client(scan_app):
    return scan_app.test_client()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def accounts(app, client):
    return Accounts(app, client)
