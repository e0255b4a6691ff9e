"""flask commands (``flask --app service COMMAND``)."""

from __future__ import annotations

import os
from collections.abc import Mapping

import click
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import text

from service import audit
from service.config import ConfigError, Settings
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


def register(app: Flask) -> None:
    from service.seed import register as register_seed

    register_seed(app)

    @app.cli.command("init-db")
    def init_db():
        """Create or upgrade the database schema (Alembic migrations in db/)."""
        upgrade()
        click.echo("database schema is up to date")

    @app.cli.command("check-db")
    def check_db():
        """Say whether the database is reachable."""
        try:
            db.session.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - report any failure to the operator
            raise click.ClickException(f"database unreachable: {exc.__class__.__name__}") from None
        click.echo(f"database reachable: {db.engine.url.render_as_string(hide_password=True)}")

    @app.cli.command("export-feedback")
    @click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True),
                  help="JSONL file to write: one {text, label} per corrected sentence")
    @click.option("--user", "email", default=None,
                  help="only the corrections in this user's scans (their email)")
    def export_feedback(out, email):
        """Write users' corrections as labelled sentences for ml/ (newest correction wins)."""
        from service.auth.accounts import user_by_email
        from service.scans.feedback import feedback_rows, jsonl_line

        user_id = None
        if email is not None:
            user = user_by_email(email)
            if user is None:
                raise click.ClickException("no user has this email")
            user_id = user.id
        written = 0
        with open(out, "w", encoding="utf-8") as file:
            for row in feedback_rows(user_id):
                file.write(jsonl_line(row))
                written += 1
        click.echo(f"wrote {written} corrected sentences to {out}")

    @app.cli.command("create-admin")
    @click.option("--email", required=True)
    @click.password_option(envvar="RISKSCAN_ADMIN_PASSWORD")
    def create_admin(email, password):
        """Create an admin, or make an existing user admin."""
        from marshmallow import ValidationError

        from service.auth.accounts import create_user, user_by_email
        from service.users.schemas import NewUserSchema

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
