"""Liveness and readiness, for load balancers and container health checks.

Anyone may ask; anonymous callers see states (``ok``, ``available``), never the model's
path, versions or exception text. An admin's token shows each check in full; the reasons
are in the log too, and an admin who must still replace a one-time password is anyone
until they have (their token opens nothing else either).
"""

from flask import Blueprint, current_app
from sqlalchemy import text

from service.auth.scopes import api_key_scope
from service.errors import problem
from service.extensions import db, token_auth

health = Blueprint("health", __name__)


@health.route("/health")
def alive():
    """The process is up."""
    return {"status": "ok"}


@health.route("/ready")
@api_key_scope("admin:read")
@token_auth.login_required(optional=True)
def ready():
    """The service can do its work: 200 when every check passes, else 503."""
    checks = {"database": {"ok": _database_reachable()}}
    for name, check in current_app.extensions.get("riskscan.readiness", {}).items():
        checks[name] = check()
    caller = token_auth.current_user()
    if caller is None or not caller.is_admin or caller.must_change_password:
        checks = {name: _states_only(check) for name, check in checks.items()}
    if all(check["ok"] for check in checks.values()):
        return {"status": "ok", "checks": checks}
    failing = ", ".join(name for name, check in checks.items() if not check["ok"])
    return problem(503, f"Not ready: {failing} unavailable.", checks=checks,
                   headers={"Retry-After": "5"})


def _states_only(check: dict) -> dict:
    """The booleans of a check, nested ones included: what any caller may see."""
    return {key: _states_only(value) if isinstance(value, dict) else value
            for key, value in check.items() if isinstance(value, (bool, dict))}


def _database_reachable() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        db.session.rollback()
        return False
