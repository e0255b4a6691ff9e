"""flask commands (``flask --app service COMMAND``)."""

from __future__ import annotations

import click
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import select, text

from service.extensions import db


def register(app: Flask) -> None:
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
        except Exception as exc:  # noqa: BLE001: report any failure to the operator
            raise click.ClickException(f"database unreachable: {exc.__class__.__name__}")
        click.echo(f"database reachable: {db.engine.url.render_as_string(hide_password=True)}")

    @app.cli.command("create-admin")
    @click.option("--email", required=True)
    @click.password_option(envvar="RISKSCAN_ADMIN_PASSWORD")
    def create_admin(email, password):
        """Create an admin, or make an existing user admin."""
        from service.auth.routes import create_user
        from service.models import User
        from service.users.schemas import NewUserSchema
        from marshmallow import ValidationError

        try:
            NewUserSchema().load({"email": email, "password": password})
        except ValidationError as exc:
            raise click.ClickException(str(exc.messages))
        user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            user = create_user(email, password, role="admin")
            click.echo(f"created admin {user.email}")
        else:
            user.role = "admin"
            click.echo(f"made {user.email} an admin")
        db.session.commit()
