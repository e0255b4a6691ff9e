"""``flask --app service seed``: demo accounts and demo scans for a fresh installation.

Creates an admin and a user (passwords from the options or the environment, or generated
and printed once), then scans a few demo texts as the user through the real scan use-case
(``create_scan``), so the scans list, findings and corrections have something to show.
Scans need the in-process model: without one they are skipped, and the command says why.

It also creates a demo project, "Billing migration", owned by the demo user, and scans three
weekly status reports into it, dated a week apart: its risk register then shows risks raised
again in other words, one that went away and one that is new (GET
/api/v1/projects/{id}/changes), and its trend three weeks.

Running it again leaves existing accounts (and their passwords) alone, adds demo scans only to
a demo user who has none, and the demo project only if the user has no project of its name.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import click
from flask import Flask, current_app
from sqlalchemy import func, select

from service.cli import OneLineCommand, one_line_failures
from service.config import current_settings
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


DEMO_PROJECT = "Billing migration"
WEEKLY_REPORTS: tuple[tuple[str, str], ...] = (
    ("Billing migration, status week 14",
     ("The data migration is on track for the dress rehearsal. The vendor has not yet "
      "delivered the test environment, and the go-live date of 1 June is at risk. Only one "
      "engineer knows the legacy interfaces, and she is on leave for most of May. Licence "
      "costs for the reporting tool rose by 30 percent, which the budget does not cover.")),
    ("Billing migration, status week 15",
     ("The dress rehearsal moved to the second week of May. The test environment from the "
      "vendor is still missing, so the 1 June go-live could slip. The only engineer who knows "
      "the old interfaces will be away for most of May. Finance approved the extra licence "
      "costs for the reporting tool.")),
    ("Billing migration, status week 16",
     ("The vendor delivered the test environment on Monday, but it is two weeks late and the "
      "go-live of 1 June is still in doubt. Nobody else has learned the legacy interfaces "
      "while their only expert is on leave in May. The penetration test found that customer "
      "passwords are stored with an outdated hashing scheme.")),
)


def init_app(app: Flask) -> None:
    @app.cli.command("seed", cls=OneLineCommand)
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
    @one_line_failures
    def seed(admin_email, admin_password, user_email, user_password, scans, yes):
        """Create a demo admin, a demo user and a few demo scans."""
        settings = current_settings()
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
            from service.serving import load_for_command

            load_for_command(current_app)  # a command's app builds its model only when asked
            _seed_scans(accounts[1][0])
            _seed_project(accounts[1][0])


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
    from service.db import AuditEvent

    assert "user_created" in EVENTS
    db.session.add(AuditEvent(event="user_created", actor_id=None, target_id=user.id, ip=None,
                              details={"role": user.role, "via": "flask seed"}))


def _seed_scans(user_id: str) -> None:
    from service.analysis.base import AnalysisError
    from service.db import Scan, User
    from service.errors import APIError
    from service.scans.create import create_scan
    from service.serving.holder import current_analyzers

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


def _seed_project(user_id: str) -> None:
    """The demo project and its three weekly reports, scanned in order as the demo user."""
    from service import audit
    from service.db import Project, ProjectMember, RegisterEntry, User, today
    from service.scans.create import create_scan
    from service.serving.holder import current_analyzers

    if current_analyzers().model is None:
        click.echo("demo project skipped: no model is loaded")
        return
    exists = db.session.scalar(select(func.count()).select_from(Project)
                               .join(ProjectMember, ProjectMember.project_id == Project.id)
                               .where(ProjectMember.user_id == user_id,
                                      Project.name == DEMO_PROJECT))
    if exists:
        click.echo(f"demo project skipped: the demo user already has {DEMO_PROJECT!r}")
        return
    project = Project(name=DEMO_PROJECT, created_by=user_id,
                      description="Three weekly status reports and the register they feed.")
    project.members.append(ProjectMember(user_id=user_id, role="owner"))
    db.session.add(project)
    db.session.flush()
    audit.record("project_created", actor_id=user_id, target_id=project.id, via="flask seed")
    db.session.commit()
    project_id = project.id
    for weeks_ago, (title, text) in zip(range(len(WEEKLY_REPORTS) - 1, -1, -1),
                                        WEEKLY_REPORTS):  # a week apart, the last today
        create_scan(db.session.get(User, user_id), text=text, upload=None, force_llm=False,
                    project_id=project_id, reported_on=today() - timedelta(weeks=weeks_ago))
        click.echo(f"scanned {title!r} into {DEMO_PROJECT!r}")
    entries = db.session.scalar(select(func.count()).select_from(RegisterEntry)
                                .where(RegisterEntry.project_id == project_id))
    click.echo(f"created the demo project {DEMO_PROJECT!r} ({project_id}): {entries} "
               "risks in its register")
