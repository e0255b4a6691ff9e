"""The authorization matrix, derived from app.url_map so that a new route is covered the day
it is added (OWASP API Security Top 10, 2023):

- API1 broken object level authorization: user B with user A's ids gets the same 404 body
  as for a missing or malformed id, on every route that takes an id; A's data is untouched.
- API5 broken function level authorization: a user gets 403 on every admin route (and an
  admin gets through, so the 403 is about the role).
- API2 broken authentication: no token, a forged, a tampered and a revoked token get 401 on
  every protected route.
"""

from __future__ import annotations

import io

import pytest

from service.extensions import db
from tests.authorization import (
    PARAM,
    SCOPE_DENIED,
    api_routes,
    call,
    is_public,
    malformed_ids,
    missing_ids,
    protected_routes,
    roles_of,
)
from tests.helpers import Accounts
from tests.scanning import without_request_id


def id_routes(app):
    return [(m, r, e, v) for m, r, e, v in api_routes(app) if PARAM.search(r)]


def test_the_matrix_covers_every_route_that_takes_an_id(app):
    routes = {(m, r) for m, r, _, _ in id_routes(app)}
    # The ones docs/api.md lists; a new one joins the matrix by itself.
    assert {("GET", "/api/v1/scans/<scan_id>"), ("DELETE", "/api/v1/scans/<scan_id>"),
            ("GET", "/api/v1/scans/<scan_id>/file"),
            ("PATCH", "/api/v1/scans/<scan_id>/findings/<finding_id>"),
            ("POST", "/api/v1/scans/<scan_id>/findings"),
            ("GET", "/api/v1/scans/<scan_id>/findings/<finding_id>"),
            ("DELETE", "/api/v1/scans/<scan_id>/findings/<finding_id>"),
            ("GET", "/api/v1/users/<user_id>"), ("PATCH", "/api/v1/users/<user_id>"),
            ("DELETE", "/api/v1/users/<user_id>"), ("DELETE", "/api/v1/auth/api-keys/<key_id>"),
            ("GET", "/api/scans/<scan_id>"), ("DELETE", "/api/scans/<scan_id>"),
            ("PATCH", "/api/v1/scans/<scan_id>"),
            ("GET", "/api/v1/projects/<project_id>"), ("DELETE", "/api/v1/projects/<project_id>"),
            ("POST", "/api/v1/projects/<project_id>/members"),
            ("DELETE", "/api/v1/projects/<project_id>/members/<user_id>"),
            ("GET", "/api/v1/projects/<project_id>/risks"),
            ("PATCH", "/api/v1/projects/<project_id>/risks/<riskid:risk_id>"),
            ("GET", "/api/v1/projects/<project_id>/risks/export"),
            ("GET", "/api/v1/projects/<project_id>/changes"),
            ("GET", "/api/v1/projects/<project_id>/trend"),
            ("GET", "/api/v1/projects/<project_id>/matrix"),
            ("GET", "/api/v1/jobs/<job_id>"), ("DELETE", "/api/v1/jobs/<job_id>"),
            ("POST", "/api/v1/projects/<project_id>/webhooks"),
            ("PATCH", "/api/v1/projects/<project_id>/webhooks/<webhook_id>"),
            ("GET", "/api/v1/projects/<project_id>/webhooks/<webhook_id>/deliveries"),
            ("POST", ("/api/v1/projects/<project_id>/webhooks/<webhook_id>/deliveries/"
                     "<delivery_id>/redeliver")),
            ("POST", "/api/v1/projects/<project_id>/webhooks/<webhook_id>/rotate-secret"),
            ("POST", "/api/v1/projects/<project_id>/webhooks/<webhook_id>/ping"),
            ("GET", "/api/v1/projects/<project_id>/dismissals"),
            ("DELETE", "/api/v1/projects/<project_id>/dismissals/<dismissal_id>")} <= routes
    for _, rule, _, _ in id_routes(app):
        assert set(PARAM.findall(rule)) <= set(missing_ids()), \
            f"{rule}: a new kind of id; teach the matrix its ids"


def test_api1_object_level_authorization_another_users_id_is_the_same_404_as_a_missing_one(
        app, client, matrix):
    b_headers = matrix["b_headers"]
    checked = 0
    for method, rule, endpoint, view in id_routes(app):
        foreign = call(client, method, rule, endpoint, matrix["a_ids"], b_headers)
        missing = call(client, method, rule, endpoint, missing_ids(), b_headers)
        malformed = call(client, method, rule, endpoint, malformed_ids(), b_headers)
        where = f"{method} {rule}"
        expected = 403 if "admin" in roles_of(view) else 404
        assert foreign.status_code == expected, (where, foreign.get_json())
        assert missing.status_code == expected, (where, missing.get_json())
        assert malformed.status_code == expected, (where, malformed.get_json())
        assert foreign.mimetype == "application/problem+json"
        assert without_request_id(foreign) == without_request_id(missing) \
            == without_request_id(malformed), where
        checked += 1
    assert checked >= 20

    # Nothing of A's changed: the scan, its file, its finding's label, the account, the
    # project, its members and its register.
    a_headers, ids = matrix["a_headers"], matrix["a_ids"]
    scan = client.get(f"/api/v1/scans/{ids['scan_id']}", headers=a_headers)
    assert scan.status_code == 200
    assert scan.get_json()["data"][0]["corrected_category"] is None
    download = client.get(f"/api/v1/scans/{ids['scan_id']}/file", headers=a_headers)
    assert download.status_code == 200
    download.close()
    keys = client.get("/api/v1/auth/api-keys", headers=a_headers).get_json()["items"]
    assert [k["active"] for k in keys] == [True]
    me = client.get("/api/v1/auth/me", headers=a_headers).get_json()
    assert me["email"] == matrix["a"]["email"]
    project = client.get(f"/api/v1/projects/{ids['project_id']}", headers=a_headers).get_json()
    assert (project["name"], project["role"]) == ("A's", "owner")
    members = client.get(f"/api/v1/projects/{ids['project_id']}/members",
                         headers=a_headers).get_json()
    assert [m["user_id"] for m in members["items"]] == [matrix["a"]["id"]]
    risk = client.get(f"/api/v1/projects/{ids['project_id']}/risks/{ids['risk_id']}",
                      headers=a_headers).get_json()
    assert risk["status"] == "open"
    assert scan.get_json()["project_id"] == ids["project_id"]
    job = client.get(f"/api/v1/jobs/{ids['job_id']}", headers=a_headers).get_json()
    assert job["status"] == "queued" and {d["status"] for d in job["documents"]} == {"queued"}
    hook = f"/api/v1/projects/{ids['project_id']}/webhooks/{ids['webhook_id']}"
    shown = client.get(hook, headers=a_headers).get_json()
    assert shown["active"] is True and shown["previous_secrets_until"] is None  # not rotated
    [delivery] = client.get(f"{hook}/deliveries", headers=a_headers).get_json()["items"]
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 1)
    dismissals = client.get(f"/api/v1/projects/{ids['project_id']}/dismissals",
                            headers=a_headers).get_json()
    assert [d["id"] for d in dismissals["items"]] == [ids["dismissal_id"]]


def test_api1_lists_show_only_the_callers_own_projects(client, matrix):
    body = client.get("/api/v1/projects", headers=matrix["b_headers"]).get_json()
    assert body["items"] == [] and body["total"] == 0
    foreign = client.get("/api/v1/scans", headers=matrix["b_headers"],
                         query_string={"project_id": matrix["a_ids"]["project_id"]})
    assert foreign.status_code == 404


def test_api1_a_finding_of_another_users_scan_under_your_own_scan_is_404(client, matrix):
    """The finding id is checked against the scan in the path, not looked up on its own."""
    own_scan = matrix["b_scan"]["scan_id"]
    foreign = client.patch(
        f"/api/v1/scans/{own_scan}/findings/{matrix['a_ids']['finding_id']}",
        json={"category": "none"}, headers=matrix["b_headers"])
    missing = client.patch(f"/api/v1/scans/{own_scan}/findings/987654321",
                           json={"category": "none"}, headers=matrix["b_headers"])
    assert foreign.status_code == missing.status_code == 404
    assert without_request_id(foreign) == without_request_id(missing)


def test_api1_lists_show_only_the_callers_own_scans(client, matrix):
    for path in ("/api/v1/scans", "/api/scans"):
        body = client.get(path, headers=matrix["b_headers"]).get_json()
        items = body["items"] if isinstance(body, dict) else body
        assert [s["scan_id"] for s in items] == [matrix["b_scan"]["scan_id"]]


def test_api1_the_review_queue_and_feedback_are_the_callers_own_even_for_admins(client, matrix):
    """GET /api/v1/findings and /findings/feedback take no id: they are read from the token
    alone, so neither B nor an admin ever gets A's findings or corrections."""
    a_scan = matrix["a_scan"]
    corrected = client.patch(
        f"/api/v1/scans/{a_scan['scan_id']}/findings/{a_scan['data'][0]['id']}",
        json={"category": "legal"}, headers=matrix["a_headers"])
    assert corrected.status_code == 200
    a_ids = {finding["id"] for finding in a_scan["data"] + matrix["a_dismissed_scan"]["data"]}
    own = client.get("/api/v1/findings", headers=matrix["a_headers"]).get_json()
    assert {item["id"] for item in own["items"]} == a_ids
    assert b"legal" in client.get("/api/v1/findings/feedback",
                                  headers=matrix["a_headers"]).data
    b_ids = {finding["id"] for finding in matrix["b_scan"]["data"]}
    for who, expected in (("b_headers", b_ids), ("admin_headers", set())):
        for args in ({}, {"corrected": "true"}, {"category": "legal"}, {"per_page": 100}):
            body = client.get("/api/v1/findings", query_string=args,
                              headers=matrix[who]).get_json()
            assert {item["id"] for item in body["items"]} <= expected, (who, args)
            assert not {item["scan_id"] for item in body["items"]} & {a_scan["scan_id"]}
        feedback = client.get("/api/v1/findings/feedback", headers=matrix[who])
        assert feedback.status_code == 200 and feedback.data == b"", who


def admin_routes(app):
    return [(m, r, e, v) for m, r, e, v in api_routes(app) if "admin" in roles_of(v)]


def test_api5_function_level_authorization_a_user_gets_403_on_every_admin_route(
        app, client, matrix):
    routes = admin_routes(app)
    names = {(m, r) for m, r, _, _ in routes}
    # Every route under /api/v1/admin/ is an admin route, and so are the user-management ones.
    assert {(m, r) for m, r, _, _ in api_routes(app) if r.startswith("/api/v1/admin/")} <= names
    assert {("GET", "/api/v1/users"), ("POST", "/api/v1/users"),
            ("DELETE", "/api/v1/users/<user_id>")} <= names
    users_before = client.get("/api/v1/users", headers=matrix["admin_headers"]).get_json()["total"]
    for method, rule, endpoint, _ in routes:
        response = call(client, method, rule, endpoint, matrix["a_ids"], matrix["b_headers"])
        assert response.status_code == 403, (method, rule, response.get_json())
        assert response.mimetype == "application/problem+json"
    # The refused calls did nothing: no user created, A not deleted.
    after = client.get("/api/v1/users", headers=matrix["admin_headers"]).get_json()["total"]
    assert after == users_before
    assert client.get("/api/v1/auth/me", headers=matrix["a_headers"]).status_code == 200


# The model registry's routes past the role check, with no models root (MODEL_DIR=off
# here): no such version, nothing to roll back to. tests/test_model_registry.py has an
# admin read, activate and roll back for real, tests/test_shadow.py a shadow trial.
WITHOUT_A_MODELS_ROOT = {"models.card": 404, "models.activate": 404, "models.rollback": 409,
                         "models.start_shadow": 404, "models.shadow_report": 404,
                         "trainings.create": 503, "trainings.get": 404}


def test_api5_an_admin_passes_the_same_admin_routes(app, client, matrix):
    """The 403s above are about the role: the same calls by an admin get through."""
    for method, rule, endpoint, _ in admin_routes(app):
        if method == "DELETE":
            continue  # deleting A would spoil nothing here, but it is not a read
        response = call(client, method, rule, endpoint, matrix["a_ids"],
                        matrix["admin_headers"])
        expected = WITHOUT_A_MODELS_ROOT.get(endpoint)
        if expected is not None:
            assert response.status_code == expected, (method, rule, response.get_json())
            continue
        assert response.status_code in (200, 201), (method, rule, response.get_json())


def test_every_api_route_is_public_on_purpose_or_protected(app):
    """A new route without @authenticate fails here until it is named public."""
    for method, rule, endpoint, view in api_routes(app):
        protected = getattr(view, "_spec", {}).get("auth") is not None
        assert protected != is_public(endpoint), f"{method} {rule}"


def _assert_401_everywhere(app, client, headers, why):
    routes = protected_routes(app)
    assert len(routes) >= 20
    for method, rule, endpoint, _ in routes:
        response = call(client, method, rule, endpoint, missing_ids(), headers)
        assert response.status_code == 401, (why, method, rule, response.get_json())
        assert response.mimetype == "application/problem+json"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_api2_no_token_is_401_on_every_protected_route(app, client):
    _assert_401_everywhere(app, client, {}, "no token")


@pytest.mark.parametrize("header", [
    "Bearer not-a-token",
    "Bearer ",
    "Basic dXNlcjpwYXNz",
    "Bearer eyJzdWIiOiAiYWRtaW4ifQ.forged.signature",
])
def test_api2_a_forged_token_is_401_on_every_protected_route(app, client, header):
    _assert_401_everywhere(app, client, {"Authorization": header}, header)


def test_api2_a_tampered_or_revoked_token_is_401_on_every_protected_route(app, client):
    user, headers = Accounts(app, client).user()
    token = user["tokens"]["access_token"]
    # One character changed in the signature.
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    _assert_401_everywhere(app, client, {"Authorization": f"Bearer {tampered}"}, "tampered")
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    _assert_401_everywhere(app, client, headers, "revoked by logout")


def test_api2_a_forged_or_revoked_api_key_is_401_on_every_protected_route(app, client, matrix):
    _assert_401_everywhere(app, client, {"Authorization": "Bearer rsk_0123456789ab_forged"},
                           "forged key")
    assert client.delete(f"/api/v1/auth/api-keys/{matrix['a_ids']['key_id']}",
                         headers=matrix["a_headers"]).status_code == 204
    _assert_401_everywhere(app, client, {"Authorization": f"Bearer {matrix['a_key']}"},
                           "revoked key")


# --- API keys: scans:* is its user's own scans; what is shared takes projects:* -----------


def _key(client, headers, *scopes) -> dict:
    created = client.post("/api/v1/auth/api-keys", headers=headers,
                          json={"name": "script", "scopes": list(scopes)})
    assert created.status_code == 201, created.get_json()
    return {"Authorization": f"Bearer {created.get_json()['key']}"}


def _refused(response, scope) -> None:
    from tests.helpers import assert_problem

    body = assert_problem(response, 403)
    assert body["detail"] == SCOPE_DENIED.format(scope)


def test_a_scans_read_key_reads_its_users_scans_and_not_other_members(team, client):
    from tests.projects import scan_into

    theirs = scan_into(client, team.editor_h, team.id, "The vendor may slip.")["scan_id"]
    mine = client.post("/api/v1/scans", headers=team.owner_h,
                       json={"text": "The budget may run out."}).get_json()["scan_id"]
    reader = _key(client, team.owner_h, "scans:read")
    both = _key(client, team.owner_h, "scans:read", "projects:read")

    assert client.get(f"/api/v1/scans/{mine}", headers=reader).status_code == 200
    _refused(client.get(f"/api/v1/scans/{theirs}", headers=reader), "projects:read")
    _refused(client.get("/api/v1/scans", headers=reader,
                        query_string={"project_id": team.id}), "projects:read")
    assert client.get(f"/api/v1/scans/{theirs}", headers=both).get_json()["scan_id"] == theirs
    listed = client.get("/api/v1/scans", headers=both, query_string={"project_id": team.id})
    assert [s["scan_id"] for s in listed.get_json()["items"]] == [theirs]


def test_a_scans_write_key_changes_no_register_without_projects_write(team, client):
    from sqlalchemy import func, select

    from service.db import Job, RegisterEntry, Scan
    from tests.projects import register_of, scan_into

    in_project = scan_into(client, team.editor_h, team.id, "The vendor may slip.")
    outside = client.post("/api/v1/scans", headers=team.editor_h,
                          json={"text": "The budget may run out."}).get_json()
    writer = _key(client, team.editor_h, "scans:write")
    before = register_of(client, team.owner_h, team.id)
    finding = in_project["data"][0]["id"]

    _refused(client.post("/api/v1/scans", headers=writer,
                         json={"text": "Costs may slip.", "project_id": team.id}),
             "projects:write")
    _refused(client.patch(f"/api/v1/scans/{outside['scan_id']}", headers=writer,
                          json={"project_id": team.id}), "projects:write")
    _refused(client.patch(f"/api/v1/scans/{in_project['scan_id']}", headers=writer,
                          json={"project_id": None}), "projects:write")
    _refused(client.patch(f"/api/v1/scans/{in_project['scan_id']}/findings/{finding}",
                          headers=writer, json={"category": "none"}), "projects:write")
    _refused(client.delete(f"/api/v1/scans/{in_project['scan_id']}", headers=writer),
             "projects:write")
    _refused(client.post("/api/v1/jobs", headers=writer, content_type="multipart/form-data",
                         data={"project_id": team.id,
                               "files": (io.BytesIO(b"Costs may slip."), "a.txt")}),
             "projects:write")

    assert register_of(client, team.owner_h, team.id) == before
    with team.client.application.app_context():
        assert db.session.scalar(select(func.count()).select_from(Scan)) == 2
        assert db.session.scalar(select(func.count()).select_from(RegisterEntry)) == 1
        assert db.session.scalar(select(func.count()).select_from(Job)) == 0
    # Its user's own scans outside any project are still its to change.
    assert client.delete(f"/api/v1/scans/{outside['scan_id']}", headers=writer).status_code == 204
    both = _key(client, team.editor_h, "scans:write", "projects:write")
    moved = client.patch(f"/api/v1/scans/{in_project['scan_id']}", headers=both,
                         json={"project_id": None})
    assert moved.status_code == 200 and moved.get_json()["project_id"] is None
