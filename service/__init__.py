"""Riskscan: finds the risks hidden in project documents."""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    # APIFairy imports flask-marshmallow's optional SQLAlchemy integration, which we do
    # not use; without this, every start-up warns that marshmallow-sqlalchemy is missing.
    warnings.filterwarnings("ignore", "Flask-SQLAlchemy integration requires", UserWarning)
    import apifairy

from flask import Flask, request

from service import api_docs, errors, logs, metrics, rate_limits, security
from service.api import RequestJSON
from service.config import Settings
from service.console import web as console
from service.errors import APIError
from service.extensions import apifairy, end_session, ma, migrate

# As extensions.db: the name service.db is the package of the tables.
from service.extensions import db as sql_db
from service.logs import configure_logging

API_JSON_TYPES = ("application/json", "application/problem+json")


class Riskscan(Flask):
    """Flask, asking once per function whether it is a coroutine function. Flask asks
    ``ensure_sync`` again for every hook of every request (fourteen on a list request),
    and the answer never changes; Flask's docs name this method as the one to override."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._synchronous: dict = {}

    def ensure_sync(self, func):
        try:
            return self._synchronous[func]
        except KeyError:
            synchronous = self._synchronous[func] = super().ensure_sync(func)
            return synchronous


def create_app(settings: Settings | None = None) -> Flask:
    """The app factory: reads as the table of contents of the service. Without settings,
    the ``flask --app service`` command's (service/cli.py: command_settings): an app that
    serves nothing, so no model is built (a command that scans asks for it)."""
    serve = settings is not None
    if settings is None:
        from service.cli import command_settings

        settings = command_settings()
    app = Riskscan(__name__, instance_relative_config=True)
    configure_app(app, settings)
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)
    init_extensions(app, settings)
    rate_limits.init_app(app, settings)
    init_serving(app, settings, serve=serve)
    init_jobs(app, settings)
    add_blueprints(app)
    api_docs.init_app(app)
    errors.init_app(app)
    logs.init_app(app)
    metrics.init_app(app)
    security.init_app(app, settings)
    console.init_app(app)
    answer_json_only(app)
    init_commands(app)
    return app


def configure_app(app: Flask, settings: Settings) -> None:
    app.config.update(
        SETTINGS=settings,
        SECRET_KEY=settings.SECRET_KEY,
        SQLALCHEMY_DATABASE_URI=settings.DATABASE_URL,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(settings.DATABASE_URL),
        MAX_CONTENT_LENGTH=int(settings.MAX_UPLOAD_MB * 1024 * 1024),
        APIFAIRY_TITLE="Riskscan API",
        APIFAIRY_VERSION="1.0",
        APIFAIRY_APISPEC_PATH="/openapi.json",
        APIFAIRY_UI_PATH=None,
    )
    app.json = RequestJSON(app)  # bodies too deep or with lone surrogates are a 400
    app.json.sort_keys = False  # answers keep their schema's field order
    if settings.DATABASE_URL.startswith("sqlite:///"):
        from pathlib import Path

        Path(settings.DATABASE_URL.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True)


def engine_options(url: str) -> dict:
    # A statement's parameters are document text, emails and token hashes: never in an
    # exception's text, and so never in a log line.
    if url.startswith("sqlite"):
        # Concurrent writers wait for the lock (WAL mode, set on connect) instead of failing.
        return {"connect_args": {"timeout": 30}, "hide_parameters": True}
    # Drop connections the server closed (restarts, wait_timeout) instead of failing on them.
    return {"pool_pre_ping": True, "pool_recycle": 1800, "hide_parameters": True}


def init_extensions(app: Flask, settings: Settings) -> None:
    sql_db.init_app(app)
    # Flask-SQLAlchemy's own teardown lets a dead connection's rollback escape (see
    # end_session): this one ends the session the same way without that.
    app.teardown_appcontext_funcs.remove(sql_db._teardown_session)
    app.teardown_appcontext(end_session)
    migrate.init_app(app, sql_db, directory=str(_project_dir() / "db"))
    ma.init_app(app)
    apifairy.init_app(app)
    if settings.DATABASE_URL.startswith("sqlite"):
        with app.app_context():
            _enable_sqlite_foreign_keys(sql_db.engine)
    from service.auth import oidc, tokens  # noqa: F401  (registers the token verifier)

    oidc.init_app(app)  # the OpenID provider, when OIDC_ISSUER is set


def _project_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent


def _enable_sqlite_foreign_keys(engine) -> None:
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


def init_serving(app: Flask, settings: Settings, *, serve: bool = True) -> None:
    from service import serving

    # build, warm, follow the deployed version, trial; for a command, nothing until asked
    serving.init_app(app, settings, serve=serve)


def init_jobs(app: Flask, settings: Settings) -> None:
    from service.jobs import queue

    queue.init_app(app, settings)  # where batch jobs run: Celery, or threads of this process


def add_blueprints(app: Flask) -> None:
    from service.admin.routes import admin
    from service.auth.api_key_routes import api_keys
    from service.auth.password_routes import password
    from service.auth.routes import auth
    from service.auth.session_routes import sessions
    from service.health import health
    from service.jobs.routes import jobs
    from service.projects import init_app as keep_registers
    from service.projects.invitation_routes import invitation_links
    from service.projects.notice_routes import notices
    from service.projects.risk_routes import risks
    from service.projects.routes import projects
    from service.scans.finding_routes import findings
    from service.scans.legacy_routes import legacy_scans
    from service.scans.routes import scans
    from service.serving.review_routes import review
    from service.serving.routes import models
    from service.serving.training_routes import trainings
    from service.users.routes import users
    from service.users.settings_routes import settings
    from service.webhooks.routes import webhooks

    app.register_blueprint(health)
    app.register_blueprint(auth, url_prefix="/api/v1/auth")
    app.register_blueprint(api_keys, url_prefix="/api/v1/auth/api-keys")
    app.register_blueprint(password, url_prefix="/api/v1/auth/password")
    app.register_blueprint(sessions, url_prefix="/api/v1/auth/sessions")
    app.register_blueprint(settings, url_prefix="/api/v1/auth/me/settings")
    app.register_blueprint(users, url_prefix="/api/v1/users")
    app.register_blueprint(scans, url_prefix="/api/v1/scans")
    app.register_blueprint(findings, url_prefix="/api/v1/findings")
    app.register_blueprint(jobs, url_prefix="/api/v1/jobs")
    app.register_blueprint(projects, url_prefix="/api/v1/projects")
    app.register_blueprint(risks, url_prefix="/api/v1/projects")
    app.register_blueprint(webhooks, url_prefix="/api/v1/projects")
    app.register_blueprint(invitation_links, url_prefix="/api/v1/invitations")
    app.register_blueprint(notices, url_prefix="/api/v1/notices")
    keep_registers(app)
    app.register_blueprint(admin, url_prefix="/api/v1/admin")
    app.register_blueprint(models, url_prefix="/api/v1/admin/models")
    app.register_blueprint(trainings, url_prefix="/api/v1/admin/models/trainings")
    app.register_blueprint(review, url_prefix="/api/v1/corrections")
    # The seed-004 contract of existing front ends, on the same views.
    app.register_blueprint(auth, url_prefix="/api/auth", name="legacy_auth")
    app.register_blueprint(legacy_scans, url_prefix="/api")


def shutdown(app: Flask) -> None:
    """Stop what the app runs beside its requests: the job pool's threads and the webhook
    deliveries' timer (a running document or attempt ends first; what is due later stays
    in the database for the next start's ``resume``), and the shadow trial (the
    scans handed to it are let go). For a process that exits, and for the tests, whose
    apps share one database one after another."""
    engine = app.extensions.get("riskscan.jobs")
    if hasattr(engine, "shutdown"):  # the pool; a broker's tasks are the workers'
        engine.shutdown()
    shadow = app.extensions.get("riskscan.shadow")
    if shadow is not None:
        shadow.stop()
        shadow.drain()


def answer_json_only(app: Flask) -> None:
    @app.before_request
    def require_acceptable_json():
        if not request.path.startswith("/api/"):
            return
        header = request.headers.get("Accept")
        if not header or header in ("*/*", "application/json"):  # the usual ones: no parsing
            return
        accept = request.accept_mimetypes
        if not any(accept[t] for t in API_JSON_TYPES):
            raise APIError(406, "This API answers application/json; "
                                "the Accept header excludes it.")


def init_commands(app: Flask) -> None:
    from service import cli, seed

    cli.init_app(app)
    seed.init_app(app)
