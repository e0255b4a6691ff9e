"""The operator's commands as scripts, init containers and CI steps run them: a process each,
in an installation with a model deployed. Each exits 0 when it did its work (it aborted at
exit 8 runs in 10, "terminate called without an active exception", while the model it had
no use for warmed up) and otherwise non-zero with one line saying why; only ``flask seed``,
which scans, loads the model.

Each test runs the commands on a copy of the test model and a SQLite database of its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
#: The log line of a model load (service/serving/loading.py: load_model).
MODEL_LOADED = "loaded on"
#: Runs of each command: the abort came in most runs, not all.
RUNS = 3


@pytest.fixture(scope="module")
def deployed_model(scan_model_dir, tmp_path_factory) -> Path:
    """A copy of the test model (never a link: a command must not touch the original)."""
    copy = tmp_path_factory.mktemp("deployed") / Path(scan_model_dir).name
    shutil.copytree(scan_model_dir, copy)
    return copy


def environment(tmp_path: Path, model: Path | str, **extra) -> dict:
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}
    env = {key: value for key, value in os.environ.items()
           if key in keep or key.startswith(("OPENBLAS_", "OMP_"))}
    env.update({"RISKSCAN_ENV": "development", "HF_HUB_OFFLINE": "1",
                "DATABASE_URL": f"sqlite:///{tmp_path / 'riskscan.db'}",
                "UPLOAD_DIR": str(tmp_path / "uploads"), "MODEL_DIR": str(model),
                "LOG_LEVEL": "INFO", "LOG_FORMAT": "text",
                "RISKSCAN_ADMIN_PASSWORD": PASSWORD, **extra})
    return env


def flask(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flask", "--app", "service", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
                          check=False)


def test_every_command_exits_0_and_loads_no_model(tmp_path, deployed_model):
    env = environment(tmp_path, deployed_model)
    commands = [["init-db"], ["check-db"], ["create-admin", "--email", "ops@example.com"],
                ["routes"], ["export-corrections", "--out", str(tmp_path / "feedback.jsonl")]]

    for _ in range(RUNS):
        for command in commands:
            result = flask(command, env)

            said = f"{command}: exit {result.returncode}\n{result.stderr[-3000:]}"
            assert result.returncode == 0, said
            assert "terminate called" not in result.stderr, said
            assert MODEL_LOADED not in result.stderr, said  # it needs no model
    assert (tmp_path / "feedback.jsonl").read_text() == ""
    assert "ops@example.com is already an admin" in flask(commands[2], env).stdout


def test_seed_loads_the_model_scans_and_exits_0(tmp_path, deployed_model):
    env = environment(tmp_path, deployed_model, RISKSCAN_SEED_ADMIN_PASSWORD=PASSWORD,
                      RISKSCAN_SEED_USER_PASSWORD=PASSWORD)
    assert flask(["init-db"], env).returncode == 0

    first = flask(["seed"], env)
    again = flask(["seed"], env)

    for result in (first, again):
        assert result.returncode == 0, result.stderr[-3000:]
        assert "terminate called" not in result.stderr
        assert MODEL_LOADED in result.stderr  # the one command that scans
    assert " demo scans (" in first.stdout, first.stdout  # created N demo scans (findings…)
    assert "demo scans skipped: the demo user already has" in again.stdout


@pytest.mark.parametrize("command", [
    ["create-admin", "--email", "first@example.com"],
    ["export-corrections", "--out", "{tmp}/feedback.jsonl"],
    ["seed", "--no-scans"],
], ids=["create-admin", "export-corrections", "seed"])
def test_a_command_on_a_database_never_migrated_says_to_run_init_db(tmp_path, command):
    result = flask([part.format(tmp=tmp_path) for part in command],
                   environment(tmp_path, "off"))

    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "Error: the database has no schema yet: run `flask --app service init-db` first"]
    assert result.stdout == ""
    assert not (tmp_path / "feedback.jsonl").exists()  # nothing written on a failure


def test_a_file_that_cannot_be_written_is_one_line(tmp_path):
    env = environment(tmp_path, "off")
    assert flask(["init-db"], env).returncode == 0
    out = tmp_path / "missing" / "feedback.jsonl"

    result = flask(["export-corrections", "--out", str(out)], env)

    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"Error: {out}: No such file or directory"]


@pytest.mark.parametrize("command, changes, said", [
    (["check-db"], {"DATABASE_URL": "nosuchdb://ops:s3cret-pw@db.example/riskscan"},
     ("Error: configuration error: DATABASE_URL: not a database URL of an installed driver "
      "(sqlite:///…, mysql+pymysql://…)")),
    (["create-admin"], {}, "Error: Missing option '--email'."),
    (["init-db", "--bogus"], {}, "Error: No such option '--bogus'."),
    (["create-admin", "--email", "ops@example.com"], {"RISKSCAN_ADMIN_PASSWORD": None},
     "Error: no password: set RISKSCAN_ADMIN_PASSWORD or pass --password"),
], ids=["unusable-database-url", "missing-option", "unknown-option", "no-terminal"])
def test_every_failure_is_one_line_and_exit_1(tmp_path, command, changes, said):
    """Issue #75, item 10: an unusable DATABASE_URL was a 50-line traceback, a usage error
    four lines and exit 2, create-admin without a terminal getpass's warning and "Aborted!".
    No terminal here: standard input is closed, as in a script."""
    env = environment(tmp_path, "off")
    for name, value in changes.items():
        if value is None:
            env.pop(name)
        else:
            env[name] = value

    result = subprocess.run([sys.executable, "-m", "flask", "--app", "service", *command],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
                            check=False, stdin=subprocess.DEVNULL)

    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stderr.strip().splitlines() == [said]
    assert result.stdout == "" and "s3cret" not in result.stderr


def test_init_db_says_one_line(tmp_path):
    result = flask(["init-db"], environment(tmp_path, "off", LOG_LEVEL="WARNING"))

    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines() == ["database schema is up to date"]
    assert result.stderr == ""
