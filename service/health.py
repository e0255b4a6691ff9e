"""Liveness and readiness, for load balancers and container health checks."""

from flask import Blueprint, current_app
from sqlalchemy import text

from service.extensions import db

health = Blueprint("health", __name__)


@health.route("/health")
def alive():
    """The process is up."""
    return {"status": "ok"}


@health.route("/ready")
def ready():
    """The service can do its work: 200 when every check passes, else 503."""
    checks = {"database": _database_reachable()}
    for name, check in current_app.extensions.get("riskscan.readiness", {}).items():
        checks[name] = check()
    ok = all(value is True or (isinstance(value, dict) and value.get("ok")) for value in checks.values())
    return {"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503


def _database_reachable() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except Exception:
        db.session.rollback()
        return False
