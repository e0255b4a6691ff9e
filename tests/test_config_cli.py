"""Settings are validated at start (a bad value names its variable), `python -m service`
stops with one clear line, and the flask commands create-admin, check-db and init-db."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import make_url

from service import create_app
from service.config import ConfigError, Settings
from service.db import User
from service.extensions import db
from tests.helpers import PASSWORD, Accounts

ROOT = Path(__file__).resolve().parent.parent
DEV = {"RISKSCAN_ENV": "development"}

# --- settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("PORT", "eighty", "PORT: expected an integer, got 'eighty'"),
    ("PORT", "70000", "PORT"),
    ("WAITRESS_THREADS", "0", "WAITRESS_THREADS"),
    ("AUTO_MIGRATE", "perhaps", "AUTO_MIGRATE: expected true or false, got 'perhaps'"),
    ("ACCESS_TOKEN_EXPIRE_MINUTES", "0", "ACCESS_TOKEN_EXPIRE_MINUTES"),
    ("ACCESS_TOKEN_EXPIRE_MINUTES", "half an hour", "ACCESS_TOKEN_EXPIRE_MINUTES"),
    ("REFRESH_TOKEN_EXPIRE_DAYS", "-1", "REFRESH_TOKEN_EXPIRE_DAYS"),
    ("MAX_UPLOAD_MB", "ten", "MAX_UPLOAD_MB: expected a number, got 'ten'"),
    ("MAX_UPLOAD_MB", "0", "MAX_UPLOAD_MB"),
    ("MAX_JSON_KB", "0", "MAX_JSON_KB"),
    ("LOG_LEVEL", "LOUD", "LOG_LEVEL"),
    ("LOG_FORMAT", "xml", "LOG_FORMAT"),
    ("RISKSCAN_ENV", "staging", "RISKSCAN_ENV"),
    ("SECRET_KEY", "too-short", "SECRET_KEY"),
])
def test_a_bad_setting_raises_config_error_naming_the_variable(variable, value, message):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**DEV, variable: value})

    assert str(caught.value).startswith(f"{variable}:")
    assert message in str(caught.value)


def test_secret_key_is_required_in_production():
    with pytest.raises(ConfigError, match=r"^SECRET_KEY:"):
        Settings.from_env({})  # production is the default
    with pytest.raises(ConfigError, match=r"^SECRET_KEY:"):
        Settings.from_env({"RISKSCAN_ENV": "production", "SECRET_KEY": "   "})

    settings = Settings.from_env({"SECRET_KEY": "a-production-secret-key"})
    assert settings.RISKSCAN_ENV == "production"
    assert settings.SECRET_KEY == "a-production-secret-key"


def test_development_gets_a_random_secret_key_per_process():
    first, second = Settings.from_env(DEV), Settings.from_env(DEV)

    assert len(first.SECRET_KEY) >= 16 and first.SECRET_KEY != second.SECRET_KEY


def test_settings_are_parsed_from_the_environment():
    settings = Settings.from_env({
        **DEV, "PORT": " 8080 ", "AUTO_MIGRATE": "off", "LOG_LEVEL": "debug",
        "MAX_UPLOAD_MB": "2.5", "ACCESS_TOKEN_EXPIRE_MINUTES": "5", "HOST": " 0.0.0.0 ",
    })

    assert settings.PORT == 8080 and settings.AUTO_MIGRATE is False
    assert settings.LOG_LEVEL == "DEBUG" and settings.MAX_UPLOAD_MB == 2.5
    assert settings.ACCESS_TOKEN_EXPIRE_MINUTES == 5 and settings.HOST == "0.0.0.0"


def test_defaults_match_the_readme():
    settings = Settings.from_env(DEV)

    assert (settings.HOST, settings.PORT, settings.WAITRESS_THREADS) == ("127.0.0.1", 8000, 8)
    assert settings.ACCESS_TOKEN_EXPIRE_MINUTES == 30
    assert settings.REFRESH_TOKEN_EXPIRE_DAYS == 14
    assert (settings.MAX_UPLOAD_MB, settings.MAX_JSON_KB) == (10, 64)
    assert (settings.LOG_LEVEL, settings.LOG_FORMAT) == ("INFO", "json")
    assert settings.AUTO_MIGRATE is True
    assert settings.DATABASE_URL == f"sqlite:///{ROOT / 'instance' / 'riskscan.db'}"


def test_an_unknown_override_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown settings: PROT"):
        Settings.from_env(DEV, PROT=80)


# --- python -m service -------------------------------------------------------------------


def run_service(env_overrides: dict) -> subprocess.CompletedProcess:
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR"}
    env = {key: value for key, value in os.environ.items() if key in keep}
    env.update(env_overrides)
    return subprocess.run([sys.executable, "-m", "service"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(("env", "line"), [
    ({**DEV, "PORT": "eighty"},
     "riskscan: configuration error: PORT: expected an integer, got 'eighty'"),
    ({"RISKSCAN_ENV": "production"},
     ("riskscan: configuration error: SECRET_KEY: required when RISKSCAN_ENV=production "
      "(set RISKSCAN_ENV=development for a local run)")),
], ids=["bad-port", "no-secret-key"])
def test_python_m_service_exits_non_zero_with_one_clear_line(env, line):
    result = run_service(env)

    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [line]
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize(("environment", "calls"), [
    ({}, [(-8, 2), (-3, 512 * 1024)]),
    ({"MALLOC_ARENA_MAX": "4"}, [(-3, 512 * 1024)]),
    ({"MALLOC_ARENA_MAX": "4", "MALLOC_MMAP_THRESHOLD_": "131072"}, []),
], ids=["defaults", "arenas-from-env", "both-from-env"])
def test_python_m_service_limits_malloc_unless_the_environment_does(monkeypatch, environment,
                                                                     calls):
    """mallopt(M_ARENA_MAX, 2) and mallopt(M_MMAP_THRESHOLD, 512 KiB) before anything starts
    a thread (see service/__main__.py); glibc's own variables win."""
    import service.__main__ as entry

    made = []

    class FakeLibc:
        def __init__(self, name):
            assert name is None

        def mallopt(self, parameter, value):
            made.append((parameter, value))
            return 1

    for name in ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(entry.ctypes, "CDLL", FakeLibc)

    entry.limit_malloc()

    assert made == calls


def test_limit_malloc_is_a_no_op_without_glibc(monkeypatch):
    import service.__main__ as entry

    class NoMallopt:
        def __init__(self, name):
            pass

    monkeypatch.setattr(entry.ctypes, "CDLL", NoMallopt)
    entry.limit_malloc()  # no AttributeError


# --- flask commands ----------------------------------------------------------------------


def users_by_email(app, email):
    with app.app_context():
        return db.session.scalar(select(User).where(User.email == email))


def test_create_admin_makes_an_admin_who_can_use_admin_routes(app, client):
    result = app.test_cli_runner().invoke(
        args=["create-admin", "--email", "Root@Example.com"],
        input=f"{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert "created admin root@example.com" in result.output
    assert users_by_email(app, "root@example.com").role == "admin"
    tokens = Accounts(app, client).login("root@example.com")
    response = client.get("/api/v1/users",
                          headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 200


def test_create_admin_reads_the_password_from_the_environment(app, client):
    result = app.test_cli_runner().invoke(
        args=["create-admin", "--email", "ops@example.com"],
        env={"RISKSCAN_ADMIN_PASSWORD": "env-provided-password"})

    assert result.exit_code == 0, result.output
    assert "env-provided-password" not in result.output
    Accounts(app, client).login("ops@example.com", "env-provided-password")


def test_create_admin_promotes_an_existing_user(app, client, accounts):
    user = accounts.register("promote.me@example.com")

    result = app.test_cli_runner().invoke(
        args=["create-admin", "--email", "PROMOTE.me@example.com"],
        env={"RISKSCAN_ADMIN_PASSWORD": "whatever-password"})

    assert result.exit_code == 0, result.output
    assert "made promote.me@example.com an admin" in result.output
    promoted = users_by_email(app, "promote.me@example.com")
    assert promoted.id == user["id"] and promoted.role == "admin"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1


@pytest.mark.parametrize(("email", "password", "complaint"), [
    ("not-an-email", PASSWORD, "Error: email: Not a valid email address."),
    ("short@example.com", "short", "Error: password: Use between 8 and 128 characters."),
    ("weak@example.com", "password",
     "Error: password: This password is too easy to guess."),
], ids=["bad-email", "short-password", "common-password"])
def test_create_admin_refuses_bad_input_and_creates_nothing(app, email, password, complaint):
    result = app.test_cli_runner().invoke(
        args=["create-admin", "--email", email], env={"RISKSCAN_ADMIN_PASSWORD": password})

    assert result.exit_code != 0
    assert result.output.startswith(complaint)  # the sentence, not a dict of lists
    assert "{" not in result.output and "[" not in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_check_db_reports_a_reachable_database_without_its_password(app, database_url):
    result = app.test_cli_runner().invoke(args=["check-db"])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("database reachable: ")
    password = make_url(database_url).password
    if password:
        assert password not in result.output


def test_check_db_fails_on_an_unreachable_database(tmp_path):
    app = create_app(Settings.from_env(
        {}, RISKSCAN_ENV="testing", SECRET_KEY="test-secret-key-0123456789", MODEL_DIR="off",
        DATABASE_URL="mysql+pymysql://riskscan:do-not-print@127.0.0.1:1/riskscan",
        LOG_LEVEL="CRITICAL"))

    result = app.test_cli_runner().invoke(args=["check-db"])

    assert result.exit_code != 0
    assert "database unreachable" in result.output
    assert "do-not-print" not in result.output
    with app.app_context():
        db.engine.dispose()


def test_init_db_builds_the_schema_of_a_fresh_database(tmp_path):
    app = create_app(Settings.from_env(
        {}, RISKSCAN_ENV="testing", SECRET_KEY="test-secret-key-0123456789", MODEL_DIR="off",
        DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.db'}", LOG_LEVEL="CRITICAL"))

    first = app.test_cli_runner().invoke(args=["init-db"])
    again = app.test_cli_runner().invoke(args=["init-db"])

    assert first.exit_code == 0, first.output
    assert "database schema is up to date" in first.output
    assert again.exit_code == 0, again.output
    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
        db.engine.dispose()
    assert {"users", "refresh_tokens", "revoked_tokens", "audit_events"} <= tables


def test_init_db_on_a_migrated_database_is_a_no_op(app, accounts):
    user = accounts.register()

    result = app.test_cli_runner().invoke(args=["init-db"])

    assert result.exit_code == 0, result.output
    assert users_by_email(app, user["email"]) is not None


# --- flask commands as a person runs them: a process in a fresh checkout --------------------


def run_flask(args: list[str], env_overrides: dict) -> subprocess.CompletedProcess:
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR"}
    env = {key: value for key, value in os.environ.items() if key in keep}
    env.update(env_overrides)
    return subprocess.run([sys.executable, "-m", "flask", "--app", "service", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def test_create_admin_works_in_a_fresh_checkout_as_make_run_does(tmp_path):
    """No RISKSCAN_ENV and no SECRET_KEY, as after `make run` (which serves as development):
    the README's command creates the admin instead of a traceback about SECRET_KEY."""
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'riskscan.db'}", "MODEL_DIR": "off",
           "RISKSCAN_ADMIN_PASSWORD": PASSWORD}

    migrated = run_flask(["init-db"], env)
    created = run_flask(["create-admin", "--email", "first@example.com"], env)

    assert migrated.returncode == 0, migrated.stderr
    assert created.returncode == 0, created.stderr
    assert "Traceback" not in created.stderr
    assert "created admin first@example.com" in created.stdout
    app = create_app(Settings.from_env(
        {}, RISKSCAN_ENV="testing", SECRET_KEY="test-secret-key-0123456789", MODEL_DIR="off",
        DATABASE_URL=env["DATABASE_URL"], AUTO_MIGRATE=False, LOG_LEVEL="CRITICAL"))
    try:
        assert users_by_email(app, "first@example.com").role == "admin"
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_command_runs_as_development_only_where_production_could_not_start():
    """A SECRET_KEY without RISKSCAN_ENV is a production install's (`python -m service`
    serves production there): its commands stay production (the seed asks first)."""
    from service.cli import command_settings

    assert command_settings({}).RISKSCAN_ENV == "development"
    assert command_settings({"SECRET_KEY": "a-production-secret-key"}).RISKSCAN_ENV == (
        "production")
    assert command_settings({"RISKSCAN_ENV": "testing"}).RISKSCAN_ENV == "testing"


@pytest.mark.parametrize(("env", "line"), [
    ({"RISKSCAN_ENV": "production"},
     ("Error: configuration error: SECRET_KEY: required when RISKSCAN_ENV=production "
      "(set RISKSCAN_ENV=development for a local run)")),
    ({"SECRET_KEY": "a-production-secret-key", "PORT": "eighty"},
     "Error: configuration error: PORT: expected an integer, got 'eighty'"),
], ids=["production-without-secret-key", "bad-port"])
def test_a_flask_command_with_a_bad_setting_says_so_in_one_line(tmp_path, env, line):
    result = run_flask(["create-admin", "--email", "first@example.com"], {
        **env, "DATABASE_URL": f"sqlite:///{tmp_path / 'riskscan.db'}", "MODEL_DIR": "off",
        "RISKSCAN_ADMIN_PASSWORD": PASSWORD})

    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [line]
    assert result.stdout == ""
