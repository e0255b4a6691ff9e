"""Audit events: who did what security-relevant thing, listed for admins."""

from __future__ import annotations

from flask import has_request_context, request

from service.db import AuditEvent
from service.extensions import db

EVENTS = (
    "register", "login_success", "login_failure", "logout", "token_reuse",
    "sso_login", "sso_refused", "sso_user_created", "sso_linked",
    "password_changed", "password_reset", "role_change", "user_created", "user_updated",
    "user_deleted", "api_key_created", "api_key_used", "api_key_revoked", "api_key_refused",
    "project_created", "project_updated", "project_deleted",
    "member_added", "member_updated", "member_removed",
    "invitation_created", "invitation_revoked", "invitation_accepted", "invitation_expired",
    "invitation_resent", "password_reset_requested", "password_reset_by_link",
    "scan_moved", "scan_redated", "risk_updated", "risk_reopened", "risk_rated", "risk_added",
    "risk_merged", "risk_split", "risk_changed", "risks_stated", "finding_dismissed",
    "risk_suggestion_dismissed", "finding_added", "finding_removed",
    "dismissal_deleted",
    "job_created", "job_cancelled",
    "webhook_created", "webhook_updated", "webhook_deleted", "webhook_redelivered",
    "webhook_secret_rotated", "webhook_pinged",
    "model_activated", "model_rolled_back", "model_shadow_started", "model_shadow_ended",
    "model_training_started", "corrections_reviewed", "corrections_undone",
    "settings_updated", "session_ended",
)

# What an event's target_id names; events absent here have none, or it is in their details
# (the model events name versions there). The admin list names users by their email.
TARGETS = {
    **dict.fromkeys(("register", "login_success", "login_failure", "logout", "token_reuse",
                     "sso_login", "sso_refused", "sso_user_created", "sso_linked",
                     "password_changed", "password_reset", "password_reset_requested",
                     "password_reset_by_link", "role_change", "user_created",
                     "user_updated", "user_deleted", "api_key_refused", "member_added", "member_updated",
                     "member_removed", "settings_updated", "session_ended"), "user"),
    **dict.fromkeys(("api_key_created", "api_key_used", "api_key_revoked"), "api_key"),
    **dict.fromkeys(("project_created", "project_updated", "project_deleted"), "project"),
    "scan_moved": "scan", "scan_redated": "scan",
    **dict.fromkeys(("risk_updated", "risk_reopened", "risk_rated", "risk_added",
                     "risk_merged", "risk_split", "risk_changed",
                     "risk_suggestion_dismissed"), "risk"),
    "risks_stated": "scan",
    "finding_dismissed": "dismissal", "dismissal_deleted": "dismissal",
    "finding_added": "finding", "finding_removed": "finding",
    **dict.fromkeys(("invitation_created", "invitation_revoked", "invitation_accepted",
                     "invitation_expired", "invitation_resent"), "invitation"),
    "job_created": "job", "job_cancelled": "job",
    **dict.fromkeys(("webhook_created", "webhook_updated", "webhook_deleted",
                     "webhook_secret_rotated"), "webhook"),
    "webhook_redelivered": "webhook_delivery", "webhook_pinged": "webhook_delivery",
    "model_training_started": "training", "corrections_reviewed": "user",
}


def record(event: str, *, actor_id: str | None = None, target_id: str | None = None,
           **details) -> None:
    """Add an audit event to the current transaction (the caller commits)."""
    assert event in EVENTS, event
    ip = request.remote_addr if has_request_context() else None  # None: the CLI
    db.session.add(AuditEvent(event=event, actor_id=actor_id, target_id=target_id,
                              ip=ip, details=details or None))
