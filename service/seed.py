"""``flask --app service seed``: demo accounts and demo scans for a fresh installation.

Creates an admin and a user (passwords from the options or the environment, or generated
and printed once), then scans a few demo texts as the user through the real scan use-case
(``create_scan``), so the scans list, findings and corrections have something to show.
Scans need the in-process model: without one they are skipped, and the command says why.

Running it again leaves existing accounts (and their passwords) alone, and adds demo scans
only to a demo user who has none.
"""

from __future__ import annotations

import secrets

import click
from flask import Flask, current_app
from sqlalchemy import func, select

from service.extensions import db

DEMO_DOCUMENTS: tuple[tuple[str, str], ...] = (
    ("Status report, week 14",
     ("The migration of the billing database is two weeks behind plan. The vendor has not "
      "yet delivered the test environment, and the go-live date of 1 June is at risk. The "
      "team held its retrospective on Friday. Only one engineer knows the legacy interfaces, "
      "and she is on leave for most of May.")),
    ("Steering committee minutes",
     ("The committee approved the revised scope for phase two. Licence costs for the "
      "analytics platform rose by 30 percent, which the current budget does not cover. "
      "Legal has not reviewed the data processing agreement with the new supplier. The next "
      "meeting is on 12 March.")),
    ("Design review notes",
     ("The API gateway will run in two availability zones. Load tests have not been run "
      "against the expected peak of 2,000 requests per second. Customer passwords are still "
      "stored with an outdated hashing scheme in the old portal. The review was well "
      "attended.")),
)


def register(app: Flask) -> None:
    @app.cli.command("seed")
    @click.option("--admin-email", default="admin@example.com", show_default=True,
                  envvar="RISKSCAN_SEED_ADMIN_EMAIL", help="the demo admin's email")
    @click.option("--admin-password", envvar="RISKSCAN_SEED_ADMIN_PASSWORD",
                  help="the demo admin's password (default: generated, printed once)")
    @click.option("--user-email", default="demo@example.com", show_default=True,
                  envvar="RISKSCAN_SEED_USER_EMAIL", help="the demo user's email")
    @click.option("--user-password", envvar="RISKSCAN_SEED_USER_PASSWORD",
                  help="the demo user's password (default: generated, printed once)")
    @click.option("--scans/--no-scans", default=True, show_default=True,
                  help="scan the demo documents as the demo user (needs the model)")
    @click.option("--yes", is_flag=True,
                  help="do not ask before seeding a production database")
    def seed(admin_email, admin_password, user_email, user_password, scans, yes):
        """Create a demo admin, a demo user and a few demo scans."""
        settings = current_app.config["SETTINGS"]
        if settings.RISKSCAN_ENV == "production" and not yes:
            click.confirm("RISKSCAN_ENV=production: create demo accounts (one of them an "
                          "admin) in this database?", abort=True)
        accounts = [
            _ensure_user(admin_email, admin_password, "admin"),
            _ensure_user(user_email, user_password, "user"),
        ]
        db.session.commit()
        if any(generated for _, generated in accounts):
            click.echo("Generated passwords are shown only now; they are stored hashed.")
        if scans:
            _seed_scans(accounts[1][0])


def _ensure_user(email: str, password: str | None, role: str) -> tuple[str, bool]:
    """(user id, whether a password was generated); an existing account is left alone."""
    from marshmallow import ValidationError

    from service.auth.accounts import create_user, user_by_email
    from service.auth.credentials import normalize_email
    from service.users.schemas import NewUserSchema

    email = normalize_email(email)
    existing = user_by_email(email)
    if existing is not None:
        click.echo(f"{role} {email} exists (role {existing.role}): left unchanged")
        return existing.id, False
    generated = not password
    if generated:
        password = secrets.token_urlsafe(12)  # 16 characters
    try:
        NewUserSchema().load({"email": email, "password": password, "role": role})
    except ValidationError as error:
        raise click.ClickException(f"{role} {email}: {error.messages}") from None
    user = create_user(email, password, role=role)
    _audit_created(user)
    shown = f"password: {password}" if generated else "password as given"
    click.echo(f"created {role} {email} ({shown})")
    return user.id, generated


def _audit_created(user) -> None:
    """Record the account in the audit trail, as the admin API does.

    ``audit.record`` reads the client address from the request; a command line has neither,
    so the event is written directly, with no actor and no address.
    """
    from service.audit import EVENTS
    from service.models import AuditEvent

    assert "user_created" in EVENTS
    db.session.add(AuditEvent(event="user_created", actor_id=None, target_id=user.id, ip=None,
                              details={"role": user.role, "via": "flask seed"}))


def _seed_scans(user_id: str) -> None:
    from service.analysis.base import AnalysisError
    from service.analyzers import current_analyzers
    from service.errors import APIError
    from service.models import Scan, User
    from service.scans.create import create_scan

    analyzers = current_analyzers()
    if analyzers.model is None:
        click.echo(f"demo scans skipped: no model is loaded ({analyzers.model_error})")
        return
    existing = db.session.scalar(select(func.count()).select_from(Scan)
                                 .where(Scan.user_id == user_id))
    if existing:
        click.echo(f"demo scans skipped: the demo user already has {existing} scan(s)")
        return
    findings = 0
    for title, text in DEMO_DOCUMENTS:
        user = db.session.get(User, user_id)  # create_scan closes the session each time
        # create_scan reads only current_app and the session: the CLI's app context is all
        # it needs (no request context).
        try:
            scan = create_scan(user, text=text, upload=None, force_llm=False)
        except (AnalysisError, APIError) as error:
            raise click.ClickException(f"demo scan {title!r} failed: {error.detail}") from None
        count, version = len(scan.findings), scan.model_version
        findings += count
        click.echo(f"scanned {title!r}: {count} finding(s)")
    click.echo(f"created {len(DEMO_DOCUMENTS)} demo scans ({findings} findings, model "
               f"{version})")
