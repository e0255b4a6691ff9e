"""Liveness and readiness, for load balancers and container health checks."""

from flask import Blueprint, current_app
from sqlalchemy import text

from service.errors import problem
from service.extensions import db

health = Blueprint("health", __name__)


@health.route("/health")
def alive():
    """The process is up."""
    return {"status": "ok"}


@health.route("/ready")
def ready():
    """The service can do its work: 200 when every check passes, else 503."""
    checks = {"database": {"ok": _database_reachable()}}
    for name, check in current_app.extensions.get("riskscan.readiness", {}).items():
        checks[name] = check()
    if all(check["ok"] for check in checks.values()):
        return {"status": "ok", "checks": checks}
    failing = ", ".join(name for name, check in checks.items() if not check["ok"])
    return problem(503, f"Not ready: {failing} unavailable.", checks=checks,
                   headers={"Retry-After": "5"})


def _database_reachable() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        db.session.rollback()
        return False
