"""Rate limits (Flask-Limiter): failed logins per account and per address, scans per user.

Limits are read from the settings at request time, and counters live in
RATE_LIMIT_STORAGE_URI: memory for one process, Redis when several share the load.
"""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_limiter.util import get_remote_address

from service.config import Settings
from service.extensions import limiter, token_auth


def _settings() -> Settings:
    return current_app.config["SETTINGS"]


def _failed_login(response) -> bool:
    return response.status_code == 401


def _login_account() -> str:
    """The account a login names: the same key for JSON and the OAuth2 form."""
    data = request.get_json(silent=True) if request.is_json else request.form
    email = (data.get("email") or data.get("username")) if isinstance(data, dict) else None
    return f"login-account:{str(email or '').strip().lower()[:254]}"


def _caller() -> str:
    user = token_auth.current_user()
    return f"user:{user.id}" if user else f"address:{get_remote_address()}"


login_per_account = limiter.limit(lambda: _settings().RATE_LIMIT_LOGIN_ACCOUNT,
                                  key_func=_login_account, deduct_when=_failed_login,
                                  scope="login-account")
login_per_address = limiter.limit(lambda: _settings().RATE_LIMIT_LOGIN_ADDRESS,
                                  deduct_when=_failed_login, scope="login-address")
scans_per_user = limiter.limit(lambda: _settings().RATE_LIMIT_SCANS, key_func=_caller,
                               scope="scans")


def register_rate_limits(app: Flask, settings: Settings) -> None:
    app.config.update(
        RATELIMIT_ENABLED=settings.RATE_LIMIT_ENABLED,
        RATELIMIT_STORAGE_URI=settings.RATE_LIMIT_STORAGE_URI,
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_KEY_PREFIX="riskscan",
    )
    limiter.init_app(app)
