"""The tables of accounts: users, their settings, their logins (sessions, refresh
tokens, revoked access tokens) and their API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.db.columns import BigId, UTCDateTime, new_id, utcnow
from service.extensions import db

# A reviewer accepts or rejects people's corrections before they may teach a model
# (service/serving/corrections.py); an admin may do everything.
ROLES = ("user", "reviewer", "admin")
# Where an account's people prove who they are: a Riskscan password, the company's OpenID
# provider, or its directory (service/auth/identities.py).
AUTH_SOURCES = ("local", "oidc", "ldap")


class User(db.Model):
    __tablename__ = "users"
    __table_args__ = (Index("uq_users_external_id", "external_id", unique=True),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # Stored lower-cased, so the unique index makes emails unique in any case.
    email: Mapped[str] = mapped_column(String(254), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="user")
    active: Mapped[bool] = mapped_column(default=True)
    auth_source: Mapped[str] = mapped_column(String(8), default="local", server_default="local")
    # Who the provider says this is: ``oidc:<issuer> <sub>`` or ``ldap:<DN>``; NULL for a
    # local account. The email may change at the provider; this does not.
    external_id: Mapped[str | None] = mapped_column(String(255))
    # A password an admin set (a new account's, a reset) is known to them too: until its
    # user chooses their own, the API refuses everything else (auth/first_password.py).
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Bumped to invalidate every access token issued before (refresh-token reuse, deactivation).
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class UserSettings(db.Model):
    """A user's defaults for what a scan request leaves out (service/scans/defaults.py);
    no row: no defaults. ``project_id`` is always a project the user may scan into: it is
    cleared when they lose that right (service/projects/membership.py, the foreign key)."""

    __tablename__ = "user_settings"

    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    min_score: Mapped[float | None] = mapped_column(Float)
    project_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("projects.id", ondelete="SET NULL"), index=True)
    force_llm: Mapped[bool] = mapped_column(Boolean, default=False)
    # The owner notices (mail_tables.OWNER_NOTICES) this person turned off; NULL: none.
    mail_off: Mapped[list | None] = mapped_column(JSON)
    # A project's weekly digest, for each project of theirs: asked for, off until then.
    mail_digest: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def mail_on(self, kind: str) -> bool:
        if kind == "digest":
            return bool(self.mail_digest)
        return kind not in (self.mail_off or ())

    def set_mail(self, kind: str, on: bool) -> None:
        if kind == "digest":
            self.mail_digest = on
            return
        off = set(self.mail_off or ()) - {kind} | (set() if on else {kind})
        self.mail_off = sorted(off) or None

    # The owner notices as the settings' API names them (users/schemas.SettingsSchema).
    mail_risk_owner = property(lambda self: self.mail_on("risk_owner"),
                               lambda self, on: self.set_mail("risk_owner", on))
    mail_risk_due = property(lambda self: self.mail_on("risk_due"),
                             lambda self, on: self.set_mail("risk_due", on))
    mail_risk_reopened = property(lambda self: self.mail_on("risk_reopened"),
                                  lambda self, on: self.set_mail("risk_reopened", on))


class AuthSession(db.Model):
    """One login: its access and refresh tokens carry its id, so that logout ends all of
    them, and its refresh chain dies at ``expires_at`` however often it is refreshed."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # REFRESH_TOKEN_MAX_DAYS
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # logout, revocation
    # Where its login came from, for its user to recognise it (GET /auth/sessions).
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    # When its tokens were last used or renewed, to the minute (auth/tokens.py writes it at
    # most once a minute, not once a request); NULL: not since it began.
    last_active_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RefreshToken(db.Model):
    """An issued refresh token, stored as a SHA-256 hash; each use rotates it."""

    __tablename__ = "refresh_tokens"
    # Ids never given again, on SQLite either (AUTOINCREMENT: db/versions/b9d4e1f7a3c5).
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # NULL for tokens issued before sessions existed: their next refresh starts one.
    session_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(db.Model):
    """A personal API key: ``rsk_<lookup>_<secret>``, found by its public ``prefix``
    (``rsk_<lookup>``) and checked against the SHA-256 of its secret (a random 256-bit
    secret needs no slow hash). It works within ``scopes`` until revoked, expired, or its
    user's ``token_version`` moves on (password change, deactivation, token theft)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list] = mapped_column(JSON)
    token_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    @property
    def active(self) -> bool:
        """Not revoked, not expired, and its user's token_version unchanged."""
        return (self.revoked_at is None
                and (self.expires_at is None or self.expires_at > utcnow())
                and self.token_version == self.user.token_version)


class RevokedToken(db.Model):
    """Access tokens revoked by logout, kept until they would have expired anyway."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(36), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
