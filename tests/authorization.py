"""The authorization matrix's parts (tests/test_authorization_matrix.py, tests/test_key_scopes.py,
reliability/hostile_requests.py): every /api/ route from app.url_map, a valid body for each
that takes one, two users' ids of everything (the ``matrix`` fixture), and a call of a
route as a client makes it."""

from __future__ import annotations

import dataclasses
import io
import ipaddress
import re
import uuid

import pytest

from service.config import current_settings
from service.db import WebhookDelivery, utcnow
from service.extensions import db
from tests.helpers import PASSWORD, Accounts
from tests.scanning import KeywordAnalyzer

# Routes anyone may call; every other /api/ route must demand a token (asserted below).
PUBLIC_ENDPOINTS = {"register", "login", "refresh"}
# Public on purpose beyond auth's: a forgotten password asked for and reset, and an
# invitation link read before sign-up, a kind of mail stopped by a message's link: each holds
# the link's secret, or answers alike for all.
PUBLIC_LINKS = {"password.forgot", "password.reset", "invitation_links.lookup",
                "notices.turn_off"}


PARAM = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


# A valid body for the routes that take one, so that validation does not answer first
# (then a 422 for A's id and for a missing one would compare equal and prove nothing).
BODIES = {
    ("POST", "trainings.create"): dict,
    ("POST", "review.decide"): lambda: {"decision": "accept",
                                        "findings": [{"id": 987654320, "label": "none"}]},
    ("POST", "review.undo"): lambda: {"findings": [{"id": 987654320, "label": "none"}]},
    ("PATCH", "users.update"): lambda: {"email": f"b-{uuid.uuid4().hex[:6]}@example.com",
                                        "current_password": PASSWORD},
    ("PATCH", "scans.correct"): lambda: {"category": "none"},
    ("POST", "scans.add_finding"): lambda: {"start": 0, "end": 10, "category": "vendor"},
    ("POST", "users.new"): lambda: {"email": f"n-{uuid.uuid4().hex[:6]}@example.com",
                                    "password": PASSWORD, "role": "admin"},
    ("POST", "scans.new"): lambda: {"text": "The vendor may slip."},
    ("POST", "legacy_scans.new"): lambda: {"text": "The vendor may slip."},
    ("POST", "api_keys.new"): lambda: {"name": "matrix", "scopes": ["scans:read"]},
    ("PATCH", "scans.update"): lambda: {"project_id": None},
    ("POST", "projects.new"): lambda: {"name": "matrix"},
    ("POST", "models.start_shadow"): lambda: {"sample_rate": 0.2, "limit": 10},
    ("PATCH", "projects.update"): lambda: {"name": "renamed"},
    ("POST", "projects.add_member"): lambda: {"email": "nobody@example.com", "role": "viewer"},
    ("POST", "projects.invite"): lambda: {"email": f"i-{uuid.uuid4().hex[:6]}@example.com",
                                          "role": "viewer"},
    ("PATCH", "projects.update_member"): lambda: {"role": "viewer"},
    ("PATCH", "risks.update"): lambda: {"status": "closed", "likelihood": 5, "impact": 5},
    ("POST", "risks.add"): lambda: {"risk": "The vendor may fold.", "category": "vendor"},
    ("POST", "risks.merge"): lambda: {"from": [987654320]},
    ("POST", "risks.split"): lambda: {"findings": [987654320]},
    ("POST", "webhooks.new"): lambda: {"url": "http://127.0.0.1:9/hook",
                                       "events": ["risk.created"]},
    ("PATCH", "webhooks.update"): lambda: {"active": False},
    ("PATCH", "settings.update"): lambda: {"min_score": 0.5},
}


def api_routes(app):
    """(method, rule, endpoint, view) for every /api/ route of the app."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, rule.rule, rule.endpoint, app.view_functions[rule.endpoint]


def short(endpoint: str) -> str:
    return endpoint.split(".", 1)[-1]


def is_public(endpoint: str) -> bool:
    return endpoint in PUBLIC_LINKS or (short(endpoint) in PUBLIC_ENDPOINTS and endpoint.split(
        ".")[0] in ("auth", "legacy_auth"))


def roles_of(view) -> list[str]:
    return list(getattr(view, "_spec", {}).get("roles") or [])


def url_for_rule(rule: str, ids: dict[str, str]) -> str:
    return PARAM.sub(lambda m: str(ids[m.group(1)]), rule)


def call(client, method, rule, endpoint, ids, headers):
    body = BODIES.get((method, endpoint))
    return client.open(url_for_rule(rule, ids), method=method, headers=headers,
                       json=body() if body else None)


@pytest.fixture
def matrix(app, client, monkeypatch):
    """User A with a scan (a stored file and findings) in A's project, whose register holds
    its findings; user B, and an admin."""
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", KeywordAnalyzer())
    accounts = Accounts(app, client)
    a, a_headers = accounts.user()
    b, b_headers = accounts.user()
    admin, admin_headers = accounts.user(role="admin")
    text = b"The vendor may slip the delivery. The budget is overrun."
    project = client.post("/api/v1/projects", headers=a_headers, json={"name": "A's"})
    assert project.status_code == 201, project.get_json()
    project_id = project.get_json()["id"]
    response = client.post("/api/v1/scans", headers=a_headers,
                           content_type="multipart/form-data",
                           data={"file": (io.BytesIO(text), "plan.txt"),
                                 "project_id": project_id})
    assert response.status_code == 201, response.get_json()
    scan = response.get_json()
    assert scan["data"], "the keyword analyzer finds the vendor and the budget"
    risks = client.get(f"/api/v1/projects/{project_id}/risks", headers=a_headers).get_json()
    assert risks["total"] == 2, risks
    own = client.post("/api/v1/scans", headers=b_headers, json={"text": "The budget is fine."})
    assert own.status_code == 201
    key = client.post("/api/v1/auth/api-keys", headers=a_headers,
                      json={"name": "a's script", "scopes": ["scans:read"]})
    assert key.status_code == 201, key.get_json()
    # A's batch job, left queued (no worker hears of it): B's DELETE must not cancel it.
    monkeypatch.setattr("service.jobs.queue.enqueue", lambda document_ids: None)
    job = client.post("/api/v1/jobs", headers=a_headers, content_type="multipart/form-data",
                      data={"files": [(io.BytesIO(text), "a.txt"), (io.BytesIO(text), "b.txt")]})
    assert job.status_code == 202, job.get_json()
    # A's dismissal: a second report's boilerplate corrected to none.
    extra = client.post("/api/v1/scans", headers=a_headers, json={
        "text": "Our vendor invoices go through the portal.", "project_id": project_id})
    assert extra.status_code == 201, extra.get_json()
    extra = extra.get_json()
    dismissed = client.patch(f"/api/v1/scans/{extra['scan_id']}/findings/"
                             f"{extra['data'][0]['id']}",
                             json={"category": "none", "scope": "later"}, headers=a_headers)
    assert dismissed.status_code == 200, dismissed.get_json()
    dismissals = client.get(f"/api/v1/projects/{project_id}/dismissals",
                            headers=a_headers).get_json()
    assert dismissals["total"] == 1, dismissals
    # A's invitation of someone without an account: B may neither see nor revoke it.
    invitation = client.post(f"/api/v1/projects/{project_id}/invitations", headers=a_headers,
                             json={"email": "invited@example.com", "role": "viewer"})
    assert invitation.status_code == 201, invitation.get_json()
    # A's webhook (to loopback, allowed here) and one delivery of it, sent already.
    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(
        current_settings(app), WEBHOOK_ALLOWED_NETWORKS=(ipaddress.ip_network("127.0.0.0/8"),)))
    webhook = client.post(f"/api/v1/projects/{project_id}/webhooks", headers=a_headers,
                          json={"url": "http://127.0.0.1:9/hook", "events": ["risk.created"]})
    assert webhook.status_code == 201, webhook.get_json()
    with app.app_context():
        delivery = WebhookDelivery(webhook_id=webhook.get_json()["id"], event="risk.created",
                                   body="{}", status="delivered", attempts=1,
                                   retry_until=utcnow())
        db.session.add(delivery)
        db.session.commit()
        delivery_id = delivery.id
    return {
        "a": a, "a_headers": a_headers, "b": b, "b_headers": b_headers,
        "admin": admin, "admin_headers": admin_headers,
        "a_ids": {"scan_id": scan["scan_id"], "finding_id": scan["data"][0]["id"],
                  "user_id": a["id"], "key_id": key.get_json()["id"],
                  "project_id": project_id, "risk_id": risks["items"][0]["id"],
                  "job_id": job.get_json()["job_id"], "webhook_id": webhook.get_json()["id"],
                  "delivery_id": delivery_id, "version": "v1",
                  "dismissal_id": dismissals["items"][0]["id"],
                  "invitation_id": invitation.get_json()["id"],
                  "other_id": risks["items"][-1]["id"],
                  "training_id": str(uuid.uuid4()), "session_id": client.get(
                      "/api/v1/auth/sessions", headers=a_headers).get_json()["items"][0]["id"]},
        "a_key": key.get_json()["key"],
        "b_scan": own.get_json(),
        "a_scan": scan,
        "a_dismissed_scan": extra,
    }


def missing_ids() -> dict[str, str]:
    return {"scan_id": str(uuid.uuid4()), "finding_id": "987654321", "user_id": str(uuid.uuid4()),
            "key_id": str(uuid.uuid4()), "project_id": str(uuid.uuid4()), "risk_id": "987654321",
            "job_id": str(uuid.uuid4()), "webhook_id": str(uuid.uuid4()),
            "delivery_id": str(uuid.uuid4()), "version": "no-such-version",
            "dismissal_id": "987654321", "training_id": str(uuid.uuid4()),
            "invitation_id": str(uuid.uuid4()), "other_id": "987654320",
            "session_id": str(uuid.uuid4())}


def malformed_ids() -> dict[str, str]:
    return {"scan_id": "not-a-uuid", "finding_id": "x'1", "user_id": "1 OR 1=1",
            "key_id": "rsk_' OR 1=1", "project_id": "p' OR 1=1", "risk_id": "1 OR 1=1",
            "job_id": "j' OR 1=1", "webhook_id": "w' OR 1=1", "delivery_id": "d' OR 1=1",
            "version": ".. OR 1=1", "dismissal_id": "1 OR 1=1", "training_id": "t' OR 1=1",
            "invitation_id": "i' OR 1=1", "other_id": "2 OR 1=1",
            "session_id": "s' OR 1=1"}


def protected_routes(app):
    return [(m, r, e, v) for m, r, e, v in api_routes(app) if not is_public(e)]


SCOPE_DENIED = "This API key lacks the scope {}."


# The one scope an API key needs on each route, written out by hand from docs/security.md's
# table, not read from the routes: a route that changes its scope fails the behaviour check
# of tests/test_key_scopes.py, and a new route its URL-map check until it is added here.
# None: no key at all.
KEY_SCOPES = {
    ("GET", "/api/auth/me"): "account:read",
    ("POST", "/api/auth/logout"): None,
    ("POST", "/api/scan"): "scans:write",
    ("GET", "/api/scans"): "scans:read",
    ("GET", "/api/scans/<scan_id>"): "scans:read",
    ("DELETE", "/api/scans/<scan_id>"): "scans:write",
    ("GET", "/api/v1/auth/me"): "account:read",
    ("POST", "/api/v1/auth/logout"): None,
    ("GET", "/api/v1/auth/api-keys"): None,
    ("POST", "/api/v1/auth/api-keys"): None,
    ("DELETE", "/api/v1/auth/api-keys/<key_id>"): None,
    ("POST", "/api/v1/auth/password"): None,
    ("GET", "/api/v1/auth/sessions"): None,
    ("DELETE", "/api/v1/auth/sessions"): None,
    ("DELETE", "/api/v1/auth/sessions/<session_id>"): None,
    ("GET", "/api/v1/auth/me/settings"): "account:read",
    ("PATCH", "/api/v1/auth/me/settings"): None,
    ("GET", "/api/v1/users/<user_id>"): "account:read",
    ("GET", "/api/v1/scans"): "scans:read",
    ("POST", "/api/v1/scans"): "scans:write",
    ("GET", "/api/v1/scans/<scan_id>"): "scans:read",
    ("PATCH", "/api/v1/scans/<scan_id>"): "scans:write",
    ("DELETE", "/api/v1/scans/<scan_id>"): "scans:write",
    ("GET", "/api/v1/scans/<scan_id>/file"): "scans:read",
    ("GET", "/api/v1/scans/<scan_id>/text"): "scans:read",
    ("PATCH", "/api/v1/scans/<scan_id>/findings/<finding_id>"): "scans:write",
    ("POST", "/api/v1/scans/<scan_id>/findings"): "scans:write",
    ("GET", "/api/v1/scans/<scan_id>/findings/<finding_id>"): "scans:read",
    ("DELETE", "/api/v1/scans/<scan_id>/findings/<finding_id>"): "scans:write",
    ("GET", "/api/v1/findings"): "scans:read",
    ("GET", "/api/v1/findings/feedback"): "scans:read",
    ("GET", "/api/v1/jobs"): "scans:read",
    ("POST", "/api/v1/jobs"): "scans:write",
    ("GET", "/api/v1/jobs/<job_id>"): "scans:read",
    ("DELETE", "/api/v1/jobs/<job_id>"): "scans:write",
    ("GET", "/api/v1/projects"): "projects:read",
    ("POST", "/api/v1/projects"): "projects:write",
    ("GET", "/api/v1/projects/<project_id>"): "projects:read",
    ("PATCH", "/api/v1/projects/<project_id>"): "projects:write",
    ("DELETE", "/api/v1/projects/<project_id>"): "projects:write",
    ("GET", "/api/v1/projects/<project_id>/members"): "projects:read",
    ("POST", "/api/v1/projects/<project_id>/members"): "projects:write",
    ("PATCH", "/api/v1/projects/<project_id>/members/<user_id>"): "projects:write",
    ("DELETE", "/api/v1/projects/<project_id>/members/<user_id>"): "projects:write",
    ("GET", "/api/v1/projects/<project_id>/risks"): "projects:read",
    ("GET", "/api/v1/projects/<project_id>/risks/export"): "projects:read",
    ("GET", "/api/v1/projects/<project_id>/risks/<riskid:risk_id>"): "projects:read",
    ("GET", "/api/v1/projects/<project_id>/risks/<riskid:risk_id>/history"): "projects:read",
    ("PATCH", "/api/v1/projects/<project_id>/risks/<riskid:risk_id>"): "projects:write",
    ("POST", "/api/v1/projects/<project_id>/risks"): "projects:write",
    ("POST", "/api/v1/projects/<project_id>/risks/<riskid:risk_id>/merge"): "projects:write",
    ("GET", "/api/v1/projects/<project_id>/risks/<riskid:risk_id>/suggestions"): "projects:read",
    ("POST", "/api/v1/projects/<project_id>/risks/<riskid:risk_id>/suggestions/<other_id>/merge"):
        "projects:write",
    ("POST", ("/api/v1/projects/<project_id>/risks/<riskid:risk_id>/suggestions/<other_id>/"
             "dismiss")): "projects:write",
    ("POST", "/api/v1/projects/<project_id>/risks/<riskid:risk_id>/split"): "projects:write",
    ("GET", "/api/v1/projects/<project_id>/changes"): "projects:read",
    ("GET", "/api/v1/projects/<project_id>/trend"): "projects:read",
    ("GET", "/api/v1/projects/<project_id>/matrix"): "projects:read",
    ("GET", "/api/v1/projects/<project_id>/dismissals"): "projects:read",
    ("DELETE", "/api/v1/projects/<project_id>/dismissals/<dismissal_id>"): "projects:write",
    ("GET", "/api/v1/projects/<project_id>/invitations"): "projects:read",
    ("POST", "/api/v1/projects/<project_id>/invitations"): "projects:write",
    ("DELETE", "/api/v1/projects/<project_id>/invitations/<invitation_id>"): "projects:write",
    ("POST", "/api/v1/projects/<project_id>/invitations/<invitation_id>/resend"):
        "projects:write",
    ("GET", "/api/v1/projects/<project_id>/webhooks"): "projects:read",
    ("POST", "/api/v1/projects/<project_id>/webhooks"): "projects:write",
    ("GET", "/api/v1/projects/<project_id>/webhooks/<webhook_id>"): "projects:read",
    ("PATCH", "/api/v1/projects/<project_id>/webhooks/<webhook_id>"): "projects:write",
    ("DELETE", "/api/v1/projects/<project_id>/webhooks/<webhook_id>"): "projects:write",
    ("POST", "/api/v1/projects/<project_id>/webhooks/<webhook_id>/rotate-secret"): "projects:write",
    ("POST", "/api/v1/projects/<project_id>/webhooks/<webhook_id>/ping"): "projects:write",
    ("GET", "/api/v1/projects/<project_id>/webhooks/<webhook_id>/deliveries"): "projects:read",
    ("GET", "/api/v1/projects/<project_id>/webhooks/<webhook_id>/deliveries/<delivery_id>"):
        "projects:read",
    ("POST", ("/api/v1/projects/<project_id>/webhooks/<webhook_id>/deliveries/<delivery_id>/"
              "redeliver")): "projects:write",
    ("GET", "/api/v1/users"): "admin:read",
    ("POST", "/api/v1/users"): "admin:write",
    ("PATCH", "/api/v1/users/<user_id>"): "admin:write",
    ("DELETE", "/api/v1/users/<user_id>"): "admin:write",
    ("POST", "/api/v1/users/<user_id>/one-time-password"): "admin:write",
    ("GET", "/api/v1/admin/audit-events"): "admin:read",
    ("GET", "/api/v1/admin/llm-calls"): "admin:read",
    ("GET", "/api/v1/admin/mail"): "admin:read",
    ("GET", "/api/v1/admin/api-keys"): "admin:read",
    ("GET", "/api/v1/admin/models"): "admin:read",
    ("GET", "/api/v1/admin/models/<version:version>"): "admin:read",
    ("POST", "/api/v1/admin/models/<version:version>/activate"): "admin:write",
    ("POST", "/api/v1/admin/models/rollback"): "admin:write",
    ("GET", "/api/v1/admin/models/trainings"): "admin:read",
    ("POST", "/api/v1/admin/models/trainings"): "admin:write",
    ("GET", "/api/v1/admin/models/trainings/<training_id>"): "admin:read",
    ("GET", "/api/v1/corrections"): "corrections:review",
    ("GET", "/api/v1/corrections/contributors"): "corrections:review",
    ("POST", "/api/v1/corrections/review"): "corrections:review",
    ("POST", "/api/v1/corrections/undo"): "corrections:review",
    ("GET", "/api/v1/admin/models/<version:version>/shadow"): "admin:read",
    ("POST", "/api/v1/admin/models/<version:version>/shadow"): "admin:write",
    ("DELETE", "/api/v1/admin/models/<version:version>/shadow"): "admin:write",
}


NO_KEY = "API keys cannot be used here: sign in and use an access token."
