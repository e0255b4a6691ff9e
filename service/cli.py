"""flask commands (``flask --app service COMMAND``); ``backup`` and ``restore`` are
service/backup/'s.

Scripts, init containers and CI steps read a command's exit status: each exits 0 when it did
its work, and otherwise non-zero with one line saying why (``one_line_failures``), never a
traceback. The app a command runs in builds no model (service/__init__.py: create_app
without settings); ``flask seed``, the one command that scans, asks for it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TextIO

import click
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError

from service import audit
from service.config import ConfigError, Settings, current_settings
from service.extensions import db


def command_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings of a ``flask --app service`` command, from the environment.

    With neither RISKSCAN_ENV nor SECRET_KEY set (a fresh checkout), development, as
    ``make run`` serves it: production cannot start without a SECRET_KEY, so such an
    environment serves no production database. A bad setting is one line, not a traceback.
    """
    environ = os.environ if environ is None else environ
    if not environ.get("RISKSCAN_ENV", "").strip() and not environ.get("SECRET_KEY", "").strip():
        environ = {**environ, "RISKSCAN_ENV": "development"}
    try:
        return Settings.from_env(environ)
    except ConfigError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None


def sentences(messages: dict) -> str:
    """A schema's messages as a person reads them: ``field: sentence`` each."""
    return " ".join(f"{field}: {' '.join(map(str, texts))}" for field, texts in messages.items())


INIT_DB = "flask --app service init-db"
#: ``--out -``: an export to standard output.
STDOUT = "-"


@contextlib.contextmanager
def private_output(out: str) -> Iterator[TextIO]:
    """Where an export of people's sentences goes: standard output for ``-``, else the file
    ``out``, written aside readable by its owner only (0600, as a backup is: it holds what
    people wrote) and renamed into place once whole, so that a failure leaves no file and
    never half of one, and an older file is replaced with its mode, never reused."""
    if out == STDOUT:
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(out)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:  # said of the file asked for, not of the one aside
        raise OSError(error.errno, error.strerror, out) from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            yield file
        os.replace(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(partial)


def said_of(out: str) -> str:
    return "standard output" if out == STDOUT else out


class OneLineCommand(click.Command):
    """A command whose usage errors (a missing or unknown option) are one line and exit 1,
    as every other failure of it is, not click's usage block and exit 2."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as error:
            raise click.ClickException(error.format_message()) from None


def one_line_failures(command):
    """A command's failures that are the installation's, not the code's (a database that is
    unreachable or not migrated, a file that cannot be written), as one line and exit
    status 1 (click.ClickException) instead of a traceback."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except SQLAlchemyError as error:
            db.session.rollback()
            raise click.ClickException(database_problem(error)) from None
        except OSError as error:
            message = error.strerror or str(error)
            if error.filename:
                message = f"{error.filename}: {message}"
            raise click.ClickException(message) from None

    return run


def database_problem(error: SQLAlchemyError) -> str:
    """Why a command's query failed, in a line: a database the migrations never built (or
    built an older schema of) says to run init-db; anything else names the error's class and
    first line (statement parameters are never in it: engine_options hides them)."""
    return schema_behind() or f"database error: {first_line(error)}"


def first_line(error: SQLAlchemyError) -> str:
    """The error's class and the first line of the driver's message."""
    lines = str(getattr(error, "orig", None) or error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def schema_behind() -> str | None:
    """A sentence when the database's schema is not the code's (never migrated, or an older
    revision); None when it is, or when the database cannot be asked."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from flask import current_app

    try:
        db.session.rollback()
        with db.engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return f"the database has no schema yet: run `{INIT_DB}` first"
            current = set(MigrationContext.configure(connection).get_current_heads())
        migrate = current_app.extensions["migrate"]
        heads = set(ScriptDirectory(migrate.directory).get_heads())
    except Exception:  # noqa: BLE001 - the original error is reported instead
        return None
    if current != heads:
        return f"the database schema is not up to date: run `{INIT_DB}` first"
    return None


def init_app(app: Flask) -> None:
    @app.cli.command("init-db", cls=OneLineCommand)
    @one_line_failures
    def init_db():
        """Create or upgrade the database schema (Alembic migrations in db/)."""
        try:
            upgrade()
        except SQLAlchemyError as error:  # not "run init-db": this is init-db
            raise click.ClickException(f"the migrations failed: {first_line(error)}") from None
        click.echo("database schema is up to date")

    @app.cli.command("check-db", cls=OneLineCommand)
    @one_line_failures
    def check_db():
        """Say whether the database is reachable."""
        try:
            db.session.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - report any failure to the operator
            raise click.ClickException(f"database unreachable: {exc.__class__.__name__}") from None
        click.echo(f"database reachable: {db.engine.url.render_as_string(hide_password=True)}")

    @app.cli.command("tell-due-owners", cls=OneLineCommand)
    @one_line_failures
    def tell_due_owners():
        """Mail each owner whose open risk reached its due date, once a date (a Celery
        deployment runs this daily, from cron; the job pool runs it itself, hourly)."""
        from service.projects.owner_notices import tell_due

        click.echo(f"{tell_due()} owners told of a due date")

    @app.cli.command("send-digests", cls=OneLineCommand)
    @one_line_failures
    def send_digests():
        """Mail each project's weekly digest to the members who asked for it, once a week
        (a Celery deployment runs this from cron; the job pool runs it itself, hourly)."""
        from service.projects import digest

        click.echo(f"{digest.send()} digests sent")

    @app.cli.command("export-corrections", cls=OneLineCommand)
    @click.option("--out", "out", required=True,
                  type=click.Path(dir_okay=False, writable=True, allow_dash=True),
                  help="JSONL file to write (0600; - for standard output): one {text, label} "
                       "per corrected sentence")
    @click.option("--user", "email", default=None,
                  help="only the corrections in this user's scans (their email)")
    @one_line_failures
    def export_corrections(out, email):
        """Write the corrections a training learns as labelled sentences for ml/: accepted
        by a reviewer, the majority of people's votes (with --user: that user's own, as
        they made them)."""
        from service.auth.accounts import user_by_email
        from service.scans.correction_export import jsonl_line, own_corrections, training_rows

        rows = training_rows()
        if email is not None:
            user = user_by_email(email)
            if user is None:
                raise click.ClickException("no user has this email")
            rows = own_corrections(user.id)
        rows = list(rows)  # read before the file is opened: a failed read leaves none
        written = 0
        with private_output(out) as file:
            for row in rows:
                row.pop("contributors", None)
                file.write(jsonl_line(row))
                written += 1
        click.echo(f"wrote {written} corrected sentences to {said_of(out)}",
                   err=out == STDOUT)

    # Its name before corrections had one word (docs/operations.md): operators' scripts keep it.
    app.cli.add_command(export_corrections, "export-feedback")

    @app.cli.command("export-register-pairs", cls=OneLineCommand)
    @click.option("--out", "out", required=True,
                  type=click.Path(dir_okay=False, writable=True, allow_dash=True),
                  help="JSONL file to write (0600; - for standard output): one {a, b, "
                       "relation, source, project} per pair")
    @one_line_failures
    def export_register_pairs(out):
        """Write the pairs people's merges (same) and splits (different) make, for the pair
        model's training (ml.pair_training train --register-pairs): only those made by an
        active reviewer or admin; there is no review of merges, the others wait."""
        from service.projects.curation_pairs import Summary, register_pairs
        from service.scans.correction_export import jsonl_line

        summary = Summary()
        with private_output(out) as file:  # a failed read leaves no file, nor half of one
            file.writelines(jsonl_line(pair) for pair in register_pairs(summary))
        click.echo(f"wrote {summary.pairs} pairs to {said_of(out)}: {summary.same} same, "
                   f"{summary.different} different; {summary.waiting} waiting (decided by an "
                   f"account that is not an active reviewer or admin), {summary.gone} gone",
                   err=out == STDOUT)

    @app.cli.command("backup", cls=OneLineCommand)
    @click.argument("file", type=click.Path(dir_okay=False))
    @one_line_failures
    def backup_command(file):
        """Write one archive of the database, the uploads and the models, while the service
        serves (docs/backup.md). FILE is new; .tar.gz or .tgz compresses it."""
        from pathlib import Path

        from service.backup import BackupFailed, backup

        try:
            click.echo(backup(current_settings(), Path(file)))
        except BackupFailed as error:
            raise click.ClickException(str(error)) from None

    @app.cli.command("restore", cls=OneLineCommand)
    @click.argument("file", type=click.Path(dir_okay=False))
    @one_line_failures
    def restore_command(file):
        """Restore an archive of `backup` into the empty database, uploads folder and models
        root the settings name (docs/backup.md); the archive is checked whole first, and a
        refusal writes nothing."""
        from pathlib import Path

        from service.backup import ArchiveRefused, restore

        try:
            click.echo(restore(current_settings(), Path(file)))
        except ArchiveRefused as error:
            raise click.ClickException(str(error)) from None

    @app.cli.command("create-admin", cls=OneLineCommand)
    @click.option("--email", required=True)
    @click.option("--password", envvar="RISKSCAN_ADMIN_PASSWORD", default=None,
                  help="the password (default: asked twice at a terminal; "
                       "RISKSCAN_ADMIN_PASSWORD)")
    @one_line_failures
    def create_admin(email, password):
        """Create an admin, or make an existing user admin."""
        import sys

        from marshmallow import ValidationError

        from service.auth.accounts import create_user, user_by_email
        from service.users.schemas import NewUserSchema

        if password is None and sys.stdin.isatty():
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        elif password is None:  # a pipe: the password twice, as a terminal asks; no prompt
            first, again = (sys.stdin.readline().rstrip("\n") for _ in range(2))
            if not first:  # nothing piped: one line, not getpass's warning and "Aborted!"
                raise click.ClickException(
                    "no password: set RISKSCAN_ADMIN_PASSWORD or pass --password")
            if again != first:
                raise click.ClickException("the two passwords piped in differ")
            password = first
        try:
            NewUserSchema().load({"email": email, "password": password})
        except ValidationError as exc:
            raise click.ClickException(sentences(exc.messages)) from None
        user = user_by_email(email)
        if user is None:
            user = create_user(email, password, role="admin")
            audit.record("user_created", target_id=user.id, role="admin", via="cli")
            click.echo(f"created admin {user.email}")
        elif user.role != "admin":
            audit.record("role_change", target_id=user.id, old=user.role, new="admin",
                         via="cli")
            user.role = "admin"
            click.echo(f"made {user.email} an admin (password unchanged)")
        else:
            click.echo(f"{user.email} is already an admin (password unchanged)")
        db.session.commit()
