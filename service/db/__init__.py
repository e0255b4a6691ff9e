"""The database's tables, a module per resource, and the column types they share.

One metadata, one migration history: Alembic's autogenerate (db/env.py) compares the
database with ``db.metadata``, which holds the tables imported so far. Importing this
package imports every module below, so that it holds all of them whichever resources the
app loaded; the migrations in db/versions/ import their column types from here. Import a
table from ``service.db``, not from its module. String lengths are explicit: MySQL needs
them.
"""

from service.db.columns import BigId, UTCDateTime, new_id, today, utcnow
from service.db.invitation_tables import Invitation
from service.db.job_tables import DOCUMENT_STATUSES, JOB_STATUSES, Job, JobDocument
from service.db.mail_tables import DIGEST, MAIL_KINDS, MAIL_STATUSES, OWNER_NOTICES, MailMessage
from service.db.project_tables import (
    ACTIVE,
    ACTIVE_STATUSES,
    JOINED_BY,
    PROJECT_ROLES,
    RISK_STATUSES,
    SETTLED_STATUSES,
    Dismissal,
    DismissedFinding,
    NotSameRisk,
    Project,
    ProjectMember,
    RegisterEntry,
    RegisterLink,
    RegisterMerge,
    RegisterVector,
)
from service.db.record_tables import AuditEvent, IdempotencyKey, LLMCallLog
from service.db.register_event_tables import CAUSES, EVENT_KINDS, RegisterEvent
from service.db.scan_tables import REVIEW_STATES, Scan, ScanFinding, effective_label
from service.db.serving_tables import (
    SHADOW_ENDINGS,
    ModelDeployment,
    ModelTraining,
    ShadowComparison,
    ShadowTrial,
)
from service.db.user_tables import (
    AUTH_SOURCES,
    ROLES,
    ApiKey,
    AuthSession,
    RefreshToken,
    RevokedToken,
    User,
    UserSettings,
)
from service.db.webhook_tables import (
    DELIVERY_STATUSES,
    WEBHOOK_EVENTS,
    Webhook,
    WebhookDelivery,
)

__all__ = [
    "ACTIVE", "ACTIVE_STATUSES", "AUTH_SOURCES", "CAUSES", "DELIVERY_STATUSES", "DIGEST",
    "DOCUMENT_STATUSES", "EVENT_KINDS", "JOB_STATUSES", "JOINED_BY", "MAIL_KINDS",
    "MAIL_STATUSES", "OWNER_NOTICES",
    "PROJECT_ROLES", "REVIEW_STATES", "RISK_STATUSES", "ROLES", "SETTLED_STATUSES",
    "SHADOW_ENDINGS", "WEBHOOK_EVENTS",
    "ApiKey", "AuditEvent", "AuthSession", "BigId", "Dismissal", "DismissedFinding",
    "IdempotencyKey", "Invitation", "Job", "JobDocument", "LLMCallLog", "MailMessage", "ModelDeployment",
    "ModelTraining", "NotSameRisk",
    "Project", "ProjectMember", "RefreshToken", "RegisterEntry", "RegisterEvent",
    "RegisterLink", "RegisterMerge", "RegisterVector", "RevokedToken", "Scan", "ScanFinding",
    "ShadowComparison",
    "ShadowTrial", "UTCDateTime", "User", "UserSettings", "Webhook", "WebhookDelivery",
    "effective_label", "new_id", "today", "utcnow",
]
