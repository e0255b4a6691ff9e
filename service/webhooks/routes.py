"""Webhooks: a project's register events (a risk created, reopened, its status changed, rated)
sent to a receiver of its owners, signed as the Standard Webhooks specification says."""

# The module docstring is the OpenAPI tag's description. How events become deliveries:
# service/outbox.py; how they are sent and retried: delivery.py.

from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace

from apifairy import other_responses, response
from flask import Blueprint
from sqlalchemy import func, select
from sqlalchemy import update as update_rows

from service import audit, outbox
from service.api import (
    count_under_lock,
    get_or_404,
    json_body,
    lock_row,
    not_found,
    paginated_response,
)
from service.auth.scopes import authorized
from service.config import current_settings
from service.db import Project, Webhook, WebhookDelivery, utcnow
from service.errors import APIError
from service.extensions import db, token_auth
from service.projects.access import project_for
from service.rate_limits import webhook_targets_per_user, webhook_url_changes_per_user
from service.webhooks.schemas import (
    DeliveryDetailSchema,
    DeliveryListArgs,
    DeliveryPageSchema,
    DeliverySchema,
    WebhookCreatedSchema,
    WebhookCreateSchema,
    WebhookPageSchema,
    WebhookSchema,
    WebhookUpdateSchema,
)
from service.webhooks.sending import new_secret, rotated, sent_headers
from service.webhooks.targets import Refused, judge

webhooks = Blueprint("webhooks", __name__)
log = logging.getLogger("riskscan.webhooks")

MAX_WEBHOOKS = 10  # per project
NOT_OWNER = "No such project (or you are not a member)"
TOO_MANY = ("Too many webhook URLs set and pings (RATE_LIMIT_WEBHOOK_TARGETS, per user); see "
            "Retry-After")


def _checked_url(url: str) -> str:
    """The URL if it may be sent to (targets.judge), else a 422 saying why in words that
    never tell what its host resolved to; the log keeps that, for the operator."""
    try:
        judge(url, current_settings().WEBHOOK_ALLOWED_NETWORKS)
    except Refused as refused:
        log.info("webhook URL refused: %s", refused.why,
                 extra={"fields": {"url": url, "why": refused.why}})
        raise APIError(422, str(refused), errors={"url": [str(refused)]}) from None
    return url


def _webhook(project_id: str, webhook_id: str) -> Webhook:
    webhook = get_or_404(Webhook, webhook_id, "webhook")
    if webhook.project_id != project_id:
        raise not_found("webhook")
    return webhook


@webhooks.route("/<project_id>/webhooks", methods=["POST"])
@authorized("projects:write")
@webhook_targets_per_user
@json_body(WebhookCreateSchema)
@response(WebhookCreatedSchema, 201)
@other_responses({401: "No or bad token", 403: "Owners only", 404: NOT_OWNER,
                  409: f"The project has {MAX_WEBHOOKS} webhooks",
                  422: "Bad fields; a URL that is not allowed (SSRF)", 429: TOO_MANY})
def new(args, project_id):
    """Add a webhook (owner); its signing secret is in this answer only"""
    caller = token_auth.current_user()
    project = project_for(caller, project_id, "owner")
    url = _checked_url(args["url"])
    count = count_under_lock(Project, project.id, select(func.count()).select_from(Webhook)
                             .where(Webhook.project_id == project.id))
    if count >= MAX_WEBHOOKS:
        raise APIError(409, f"This project has {count} webhooks, the most it may have; "
                            "delete one first.")
    webhook = Webhook(project_id=project.id, url=url, events=args["events"],
                      min_score=args["min_score"], categories=args["categories"],
                      active=args["active"], secret=new_secret(), created_by=caller.id)
    db.session.add(webhook)
    db.session.flush()
    audit.record("webhook_created", actor_id=caller.id, target_id=webhook.id,
                 project_id=project.id, url=url, events=args["events"])
    db.session.commit()
    return webhook


@webhooks.route("/<project_id>/webhooks", methods=["GET"])
@authorized("projects:read")
@paginated_response(WebhookPageSchema)
@other_responses({401: "No or bad token", 403: "Owners only", 404: NOT_OWNER})
def all(args, project_id):
    """A project's webhooks, oldest first (owner)"""
    project = project_for(token_auth.current_user(), project_id, "owner")
    return (select(Webhook).where(Webhook.project_id == project.id)
            .order_by(Webhook.created_at, Webhook.id))


@webhooks.route("/<project_id>/webhooks/<webhook_id>", methods=["GET"])
@authorized("projects:read")
@response(WebhookSchema)
@other_responses({401: "No or bad token", 403: "Owners only",
                  404: "No such project or webhook"})
def get(project_id, webhook_id):
    """A webhook (owner)"""
    project = project_for(token_auth.current_user(), project_id, "owner")
    return _webhook(project.id, webhook_id)


@webhooks.route("/<project_id>/webhooks/<webhook_id>", methods=["PATCH"])
@authorized("projects:write")
@webhook_url_changes_per_user
@json_body(WebhookUpdateSchema)
@response(WebhookSchema)
@other_responses({401: "No or bad token", 403: "Owners only",
                  404: "No such project or webhook",
                  422: "Bad fields; a URL that is not allowed (SSRF)", 429: TOO_MANY})
def update(args, project_id, webhook_id):
    """Change a webhook's URL, events, rule, or switch it off and on (owner)"""
    caller = token_auth.current_user()
    project = project_for(caller, project_id, "owner")
    webhook = _webhook(project.id, webhook_id)
    if "url" in args:
        _checked_url(args["url"])
    for name, value in args.items():
        setattr(webhook, name, value)
    audit.record("webhook_updated", actor_id=caller.id, target_id=webhook.id,
                 project_id=project.id, fields=sorted(args),
                 **({"active": args["active"]} if "active" in args else {}))
    db.session.commit()
    return webhook


@webhooks.route("/<project_id>/webhooks/<webhook_id>/rotate-secret", methods=["POST"])
@authorized("projects:write")
@response(WebhookCreatedSchema)
@other_responses({401: "No or bad token", 403: "Owners only",
                  404: "No such project or webhook"})
def rotate_secret(project_id, webhook_id):
    """A new signing secret, in this answer only; until previous_secrets_until, deliveries
    are signed with the secrets it replaced too (owner)"""
    caller = token_auth.current_user()
    project = project_for(caller, project_id, "owner")
    webhook = _webhook(project.id, webhook_id)
    lock_row(Webhook, webhook.id)  # a rotation racing this one reads what this one wrote
    db.session.refresh(webhook, with_for_update=True)
    overlap = timedelta(hours=current_settings().WEBHOOK_SECRET_OVERLAP_HOURS)
    webhook.secret, webhook.previous_secrets, webhook.previous_secrets_until = rotated(
        webhook.secret, webhook.previous_secrets, webhook.previous_secrets_until, utcnow(),
        overlap)
    until = webhook.previous_secrets_until
    audit.record("webhook_secret_rotated", actor_id=caller.id, target_id=webhook.id,
                 project_id=project.id,
                 previous_secrets_until=until.isoformat() if until is not None else None)
    db.session.flush()
    # The answer is read before the commit: after it the row may already hold a racing
    # rotation's secret, which the expired instance would read back for this caller.
    answer = SimpleNamespace(**{name: getattr(webhook, name)
                                for name in WebhookCreatedSchema().fields})
    db.session.commit()
    return answer


@webhooks.route("/<project_id>/webhooks/<webhook_id>/ping", methods=["POST"])
@authorized("projects:write")
@webhook_targets_per_user
@response(DeliverySchema, 202)
@other_responses({401: "No or bad token", 403: "Owners only",
                  404: "No such project or webhook",
                  409: "The webhook is switched off, or a ping to it is pending",
                  429: TOO_MANY})
def ping(project_id, webhook_id):
    """Send the webhook a ping event now, to test its receiver: one attempt, not retried;
    the delivery (in the deliveries) says how it went (owner)"""
    caller = token_auth.current_user()
    project = project_for(caller, project_id, "owner")
    webhook = _webhook(project.id, webhook_id)
    if not webhook.active:
        raise APIError(409, "This webhook is switched off (active: false): switch it on to "
                            "ping it.")
    # One pending at a time: pings cannot pile requests up at a URL, however fast they come.
    pending = count_under_lock(Webhook, webhook.id, select(func.count())
                               .select_from(WebhookDelivery)
                               .where(WebhookDelivery.webhook_id == webhook.id,
                                      WebhookDelivery.event == outbox.PING,
                                      WebhookDelivery.status == "pending"))
    if pending:
        raise APIError(409, "A ping to this webhook is pending: its delivery shows when the "
                            "receiver answers.")
    delivery = outbox.ping(webhook, caller.id)
    audit.record("webhook_pinged", actor_id=caller.id, target_id=delivery.id,
                 project_id=project.id, webhook_id=webhook.id)
    db.session.commit()
    db.session.refresh(delivery)
    return delivery


@webhooks.route("/<project_id>/webhooks/<webhook_id>", methods=["DELETE"])
@authorized("projects:write")
@other_responses({204: "Deleted, with its deliveries", 401: "No or bad token",
                  403: "Owners only", 404: "No such project or webhook"})
def delete(project_id, webhook_id):
    """Delete a webhook and its deliveries (owner)"""
    caller = token_auth.current_user()
    project = project_for(caller, project_id, "owner")
    webhook = _webhook(project.id, webhook_id)
    audit.record("webhook_deleted", actor_id=caller.id, target_id=webhook.id,
                 project_id=project.id, url=webhook.url)
    db.session.delete(webhook)
    db.session.commit()
    return "", 204


@webhooks.route("/<project_id>/webhooks/<webhook_id>/deliveries", methods=["GET"])
@authorized("projects:read")
@paginated_response(DeliveryPageSchema, DeliveryListArgs)
@other_responses({401: "No or bad token", 403: "Owners only",
                  404: "No such project or webhook", 422: "Bad filter or page"})
def deliveries(args, project_id, webhook_id):
    """A webhook's deliveries, newest first: status, answer, duration, attempts (owner)"""
    project = project_for(token_auth.current_user(), project_id, "owner")
    webhook = _webhook(project.id, webhook_id)
    statement = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id)
    if "status" in args:
        statement = statement.where(WebhookDelivery.status == args["status"])
    return statement.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)


@webhooks.route("/<project_id>/webhooks/<webhook_id>/deliveries/<delivery_id>",
                methods=["GET"])
@authorized("projects:read")
@response(DeliveryDetailSchema)
@other_responses({401: "No or bad token", 403: "Owners only",
                  404: "No such project, webhook or delivery"})
def delivery(project_id, webhook_id, delivery_id):
    """One delivery: the request each attempt sends and the last answer (owner)"""
    project = project_for(token_auth.current_user(), project_id, "owner")
    webhook = _webhook(project.id, webhook_id)
    found = get_or_404(WebhookDelivery, delivery_id, "delivery")
    if found.webhook_id != webhook.id:
        raise not_found("delivery")
    found.request = {"method": "POST", "url": webhook.url, "body": found.body,
                     "headers": sent_headers(found.id)}  # not a column: this answer's
    return found


@webhooks.route("/<project_id>/webhooks/<webhook_id>/deliveries/<delivery_id>/redeliver",
                methods=["POST"])
@authorized("projects:write")
@response(DeliverySchema, 202)
@other_responses({401: "No or bad token", 403: "Owners only",
                  404: "No such project, webhook or delivery",
                  409: "The delivery is still pending"})
def redeliver(project_id, webhook_id, delivery_id):
    """Send a delivery again, with the same id and body, retried as a new one (owner)"""
    caller = token_auth.current_user()
    project = project_for(caller, project_id, "owner")
    webhook = _webhook(project.id, webhook_id)
    delivery = get_or_404(WebhookDelivery, delivery_id, "delivery")
    if delivery.webhook_id != webhook.id:
        raise not_found("delivery")
    now = utcnow()
    window = timedelta(hours=current_settings().WEBHOOK_RETRY_HOURS)
    claimed = db.session.execute(
        update_rows(WebhookDelivery)
        .where(WebhookDelivery.id == delivery.id, WebhookDelivery.status != "pending")
        .values(status="pending", next_attempt_at=now, retry_until=now + window)).rowcount
    if not claimed:  # pending already, or made so by a redelivery racing this one
        db.session.rollback()
        raise APIError(409, "This delivery is pending: it is being sent or retried.")
    audit.record("webhook_redelivered", actor_id=caller.id, target_id=delivery.id,
                 project_id=project.id, webhook_id=webhook.id)
    outbox.hand_over(delivery)
    db.session.commit()
    db.session.refresh(delivery)
    return delivery
