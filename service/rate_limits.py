"""Rate limits (Flask-Limiter): password guesses per account and per address, registrations
(and project members added by an email without an account) per address and per email,
scans per user, webhook URLs set and pings per user.

A password guess is a failed login or a wrong ``current_password`` on ``PATCH /users/{id}``
or ``POST /auth/password``: all count against the same per-account and per-address budgets,
so that no door widens another. Limits are read from the settings at request time, and counters live in
RATE_LIMIT_STORAGE_URI: memory for one process, Redis when several share the load.
"""

from __future__ import annotations

from flask import Flask, g, request
from flask_limiter.util import get_remote_address

from service.auth.credentials import login_credentials, normalize_email
from service.config import Settings, current_settings
from service.errors import APIError
from service.extensions import limiter, token_auth


def _settings() -> Settings:
    return current_settings()


def password_guess_failed() -> None:
    """Mark this request as a wrong password: the password-guess limits count it."""
    g.password_guess_failed = True


def _counts_as_guess(_response) -> bool:
    return g.get("password_guess_failed", False)


def account_lookup_missed() -> None:
    """Mark this request as naming an email that no active account has (adding a project
    member): like registration's 409, the answer tells whether an email has an account."""
    g.account_lookup_missed = True


def _counts_as_lookup(_response) -> bool:
    return g.get("account_lookup_missed", False)


def _guessed_account() -> str:
    """The account whose password this request tries: the one a login checks, or the
    caller's own on a PATCH of their record."""
    caller = token_auth.current_user()
    if caller is not None:
        email = caller.email
    else:
        try:
            email = login_credentials()["email"]
        except APIError:  # the view answers the malformed request itself
            email = ""
    return f"password-account:{email[:254]}"


def _registered_email() -> str:
    data = request.get_json(silent=True)
    email = data.get("email") if isinstance(data, dict) else None
    return f"register-email:{normalize_email(email)[:254] if isinstance(email, str) else ''}"


def _caller() -> str:
    user = token_auth.current_user()
    return f"user:{user.id}" if user else f"address:{get_remote_address()}"


def _limit(setting: str, scope: str, **kwargs):
    """A limit shared by every route it decorates (the legacy paths' views included): one
    budget, not one per endpoint."""
    return limiter.shared_limit(lambda: getattr(_settings(), setting), scope, **kwargs)


password_guesses_per_account = _limit("RATE_LIMIT_LOGIN_ACCOUNT", "password-account",
                                      key_func=_guessed_account, deduct_when=_counts_as_guess)
password_guesses_per_address = _limit("RATE_LIMIT_LOGIN_ADDRESS", "password-address",
                                      deduct_when=_counts_as_guess)
sign_ups_per_address = _limit("RATE_LIMIT_REGISTER_ADDRESS", "register-address")
# Adding a member by an email without an account draws on registration's budget: one
# budget for every door that tells whether an email has an account.
account_lookups_per_address = _limit("RATE_LIMIT_REGISTER_ADDRESS", "register-address",
                                     deduct_when=_counts_as_lookup)
sign_ups_per_email = _limit("RATE_LIMIT_REGISTER_EMAIL", "register-email",
                                 key_func=_registered_email)
scans_per_user = _limit("RATE_LIMIT_SCANS", "scans", key_func=_caller)
# A password reset asked for: registration's budgets, counters of their own (per client
# address, and per email whatever its case), so that nobody floods an inbox or the relay.
resets_per_address = _limit("RATE_LIMIT_REGISTER_ADDRESS", "reset-address")
resets_per_email = _limit("RATE_LIMIT_REGISTER_EMAIL", "reset-email",
                          key_func=lambda: "reset-" + _registered_email())


def _leaves_the_url(*_args) -> bool:
    """A PATCH of a webhook that does not name a URL (its events, rule, switch) tries no
    new target."""
    body = request.get_json(silent=True)
    return not (isinstance(body, dict) and "url" in body)


# Each webhook URL set (a webhook made, its url changed) and each ping draw on one budget
# per user: together they would otherwise probe, port by port, whatever the service reaches.
webhook_targets_per_user = _limit("RATE_LIMIT_WEBHOOK_TARGETS", "webhook-targets",
                                  key_func=_caller)
webhook_url_changes_per_user = _limit("RATE_LIMIT_WEBHOOK_TARGETS", "webhook-targets",
                                      key_func=_caller, exempt_when=_leaves_the_url)
# A correction or an added risk: one budget for both, so that no account floods the review.
corrections_per_user = _limit("RATE_LIMIT_CORRECTIONS", "corrections", key_func=_caller)


def init_app(app: Flask, settings: Settings) -> None:
    app.config.update(
        RATELIMIT_ENABLED=settings.RATE_LIMIT_ENABLED,
        RATELIMIT_STORAGE_URI=settings.RATE_LIMIT_STORAGE_URI,
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_KEY_PREFIX="riskscan",
    )
    limiter.init_app(app)
