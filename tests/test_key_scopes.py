"""Which API key reaches which route: the scope each route needs, written down by hand
(docs/security.md's table) and held against the URL map and against what the routes do.

A key's scope is enforced from the attribute ``@api_key_scope`` sets on the view; a test that
read its expectation from that same attribute would pass whatever the attribute said. Here
the table is the expectation: a route whose scope changes answers another 403 than the table
says, and a new route fails until it is added. tests/test_authorization_matrix.py has the
key-scope rules that reach past a route's own scope (scans in projects).
"""

from __future__ import annotations

import io
import uuid

from service.auth.scopes import ADMIN_SCOPES, ROLE_SCOPES, SCOPES
from tests.helpers import PASSWORD, Accounts, api_key_headers, assert_problem
from tests.test_authorization_matrix import (
    BODIES,
    SCOPE_DENIED,
    call,
    matrix,  # noqa: F401  (a fixture)
    protected_routes,
    url_for_rule,
)

# The one scope an API key needs on each route, written out by hand from docs/security.md's
# table, not read from the routes: a route that changes its scope fails the behaviour check
# below, and a new route fails the URL-map check until it is added here. None: no key at all.
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
    ("PATCH", "/api/v1/projects/<project_id>/risks/<riskid:risk_id>"): "projects:write",
    ("POST", "/api/v1/projects/<project_id>/risks"): "projects:write",
    ("POST", "/api/v1/projects/<project_id>/risks/<riskid:risk_id>/merge"): "projects:write",
    ("POST", "/api/v1/projects/<project_id>/risks/<riskid:risk_id>/split"): "projects:write",
    ("GET", "/api/v1/projects/<project_id>/changes"): "projects:read",
    ("GET", "/api/v1/projects/<project_id>/trend"): "projects:read",
    ("GET", "/api/v1/projects/<project_id>/matrix"): "projects:read",
    ("GET", "/api/v1/projects/<project_id>/dismissals"): "projects:read",
    ("DELETE", "/api/v1/projects/<project_id>/dismissals/<dismissal_id>"): "projects:write",
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
    ("GET", "/api/v1/admin/models/<version:version>/shadow"): "admin:read",
    ("POST", "/api/v1/admin/models/<version:version>/shadow"): "admin:write",
    ("DELETE", "/api/v1/admin/models/<version:version>/shadow"): "admin:write",
}
NO_KEY = "API keys cannot be used here: sign in and use an access token."
# A keyed call's body where the matrix's would be refused for a reason other than the
# scope: a key may not make an admin (docs/security.md).
KEY_BODIES = {("POST", "users.new"): lambda: {"email": f"k-{uuid.uuid4().hex[:6]}@example.com",
                                              "password": PASSWORD, "role": "user"}}


def test_every_protected_route_has_its_key_scope_written_down(app):
    """A new route fails here until KEY_SCOPES names the scope it needs (or None)."""
    routes = {(method, rule) for method, rule, _, _ in protected_routes(app)}
    assert routes - set(KEY_SCOPES) == set(), "new routes: add each to KEY_SCOPES"
    assert set(KEY_SCOPES) - routes == set(), "routes gone: take them out of KEY_SCOPES"
    assert set(KEY_SCOPES.values()) - {None} == set(SCOPES)


def test_api_keys_reach_exactly_the_routes_of_their_scope(app, client, matrix):  # noqa: F811
    """For each scope, a key with it alone: every route of KEY_SCOPES that needs another
    scope (or takes no key) is a 403 naming what it needs, and every route that needs this
    one gets past authorization without failing (neither 401, 403 nor a 5xx). The calls
    that only a key's own scope may make use the user's own scan outside any project (in
    one, a scans route needs the projects scope too) and a user of their own for the
    admin's (so that no call deletes the user whose keys make the others); the calls
    that delete run last."""
    a_headers, admin_headers = matrix["a_headers"], matrix["admin_headers"]
    own = client.post("/api/v1/scans", headers=a_headers, content_type="multipart/form-data",
                      data={"file": (io.BytesIO(b"The vendor may slip."), "own.txt")})
    assert own.status_code == 201 and own.get_json()["project_id"] is None, own.get_json()
    victim, _ = Accounts(app, client).user()
    ids = {**matrix["a_ids"], "scan_id": own.get_json()["scan_id"],
           "finding_id": own.get_json()["data"][0]["id"]}
    keys = {scope: api_key_headers(client, admin_headers if scope in ROLE_SCOPES else a_headers,
                                   scope)
            for scope in sorted(SCOPES)}
    routes = sorted(protected_routes(app), key=lambda route: route[0] == "DELETE")
    for scope, key_headers in keys.items():
        for method, rule, endpoint, _ in routes:
            needed = KEY_SCOPES[(method, rule)]
            where = (scope, method, rule)
            if needed != scope:
                response = call(client, method, rule, endpoint, matrix["a_ids"], key_headers)
                body = assert_problem(response, 403)
                assert body["detail"] == (NO_KEY if needed is None
                                          else SCOPE_DENIED.format(needed)), where
                continue
            body = KEY_BODIES.get((method, endpoint)) or BODIES.get((method, endpoint))
            response = client.open(url_for_rule(rule, {**ids, "user_id": victim["id"]}
                                                if scope in ADMIN_SCOPES else ids),
                                   method=method, headers=key_headers,
                                   json=body() if body else None)
            response.close()  # a file download holds its file open until closed
            # Without a model (this app has none) a training is a 503 by design: the key
            # reached the view.
            allowed = 503 if endpoint == "trainings.create" else 499
            assert response.status_code <= allowed and response.status_code not in (401, 403), (
                where, response.get_data(as_text=True))
