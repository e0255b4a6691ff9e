"""``flask --app service seed``: demo accounts that can log in, and demo scans through the
real scan use-case when a model is loaded."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from service.seed import DEMO_DOCUMENTS, DEMO_PROJECT, WEEKLY_REPORTS, init_app

CREATED = re.compile(r"created (admin|user) (\S+) \(password: (\S+)\)")


def seed(app, *args, **kwargs):
    if "seed" not in app.cli.commands:  # until service/cli.py registers it
        init_app(app)
    return app.test_cli_runner().invoke(args=["seed", *args], **kwargs)


def login(client, email, password):
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def me(client, tokens):
    response = client.get("/api/v1/auth/me",
                          headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_seed_creates_an_admin_and_a_user_who_can_log_in(app, client):
    result = seed(app)
    assert result.exit_code == 0, result.output
    created = {role: (email, password) for role, email, password in CREATED.findall(result.output)}
    assert created.keys() == {"admin", "user"}
    assert created["admin"][0] == "admin@example.com"
    assert created["user"][0] == "demo@example.com"
    assert created["admin"][1] != created["user"][1]
    assert "shown only now" in result.output
    # The test app runs with MODEL_DIR=off: the scans are skipped, and the command says why.
    assert "demo scans skipped: no model is loaded" in result.output

    for role, (email, password) in created.items():
        response = login(client, email, password)
        assert response.status_code == 200, response.get_json()
        caller = me(client, response.get_json())
        assert (caller["email"], caller["role"]) == (email, role)

    admin_tokens = login(client, *created["admin"]).get_json()
    events = client.get("/api/v1/admin/audit-events?event=user_created",
                        headers={"Authorization": f"Bearer {admin_tokens['access_token']}"})
    assert events.status_code == 200, events.get_json()
    assert {event["details"]["via"] for event in events.get_json()["items"]} == {"flask seed"}
    assert events.get_json()["total"] == 2


def test_passwords_come_from_options_or_the_environment_and_are_not_printed(app, client):
    result = seed(app, "--admin-email", "Boss@Example.com", "--admin-password", "admin-pass-123",
                  "--user-email", "worker@example.com", "--no-scans",
                  env={"RISKSCAN_SEED_USER_PASSWORD": "user-pass-123"})
    assert result.exit_code == 0, result.output
    assert "admin-pass-123" not in result.output and "user-pass-123" not in result.output
    assert "created admin boss@example.com (password as given)" in result.output
    assert "shown only now" not in result.output
    assert "demo scans" not in result.output  # --no-scans
    assert login(client, "boss@example.com", "admin-pass-123").status_code == 200
    assert login(client, "worker@example.com", "user-pass-123").status_code == 200


def test_running_it_again_leaves_accounts_and_passwords_alone(app, client):
    first = seed(app, "--admin-password", "first-admin-pw", "--user-password", "first-user-pw")
    assert first.exit_code == 0, first.output
    again = seed(app)
    assert again.exit_code == 0, again.output
    assert "admin admin@example.com exists (role admin): left unchanged" in again.output
    assert "user demo@example.com exists (role user): left unchanged" in again.output
    assert not CREATED.findall(again.output)
    assert login(client, "admin@example.com", "first-admin-pw").status_code == 200
    assert login(client, "demo@example.com", "first-user-pw").status_code == 200


def test_a_bad_password_is_refused_before_anything_is_written(app, client):
    result = seed(app, "--admin-password", "short")
    assert result.exit_code != 0
    assert "admin admin@example.com" in result.output
    assert "between 8 and 128 characters" in result.output
    assert login(client, "demo@example.com", "whatever-pw").status_code == 401
    again = seed(app, "--admin-password", "long-enough-pw")
    assert again.exit_code == 0, again.output
    assert "created admin admin@example.com" in again.output


def test_production_asks_before_seeding(make_app):
    app = make_app(RISKSCAN_ENV="production")
    refused = seed(app, input="n\n")
    assert refused.exit_code != 0
    assert "Aborted" in refused.output and "created" not in refused.output
    accepted = seed(app, "--yes", "--no-scans")
    assert accepted.exit_code == 0, accepted.output
    assert len(CREATED.findall(accepted.output)) == 2


@pytest.mark.slow
def test_with_a_model_the_demo_user_gets_demo_scans(scan_app):
    client = scan_app.test_client()
    result = seed(scan_app, "--user-password", "demo-user-pw")
    assert result.exit_code == 0, result.output
    assert f"created {len(DEMO_DOCUMENTS)} demo scans" in result.output

    tokens = login(client, "demo@example.com", "demo-user-pw").get_json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    listed = client.get("/api/v1/scans", headers=headers)
    assert listed.status_code == 200, listed.get_json()
    scans = listed.get_json()["items"]
    assert len(scans) == len(DEMO_DOCUMENTS) + len(WEEKLY_REPORTS)
    assert {scan["source"] for scan in scans} == {"model"}
    # The demo texts are written to carry risks; the small test model finds some of them.
    details = [client.get(f"/api/v1/scans/{scan['scan_id']}", headers=headers)
               for scan in scans]
    assert all(detail.status_code == 200 for detail in details)
    assert sum(len(detail.get_json()["data"]) for detail in details) > 0

    # The demo project: three weekly reports feed one register, where a risk stated again in
    # other words is one entry seen more than once.
    (project,) = client.get("/api/v1/projects", headers=headers).get_json()["items"]
    assert (project["name"], project["role"]) == (DEMO_PROJECT, "owner")
    in_project = client.get("/api/v1/scans", query_string={"project_id": project["id"]},
                            headers=headers).get_json()
    assert in_project["total"] == len(WEEKLY_REPORTS)
    today = datetime.now(UTC).date()  # dated a week apart, the last today: three weeks
    assert sorted(s["reported_on"] for s in in_project["items"]) == [
        (today - timedelta(weeks=weeks)).isoformat() for weeks in (2, 1, 0)]
    risks = client.get(f"/api/v1/projects/{project['id']}/risks", headers=headers).get_json()
    assert risks["total"] > 0
    assert max(entry["occurrences"] for entry in risks["items"]) >= 2, risks["items"]
    changes = client.get(f"/api/v1/projects/{project['id']}/changes", headers=headers)
    assert changes.status_code == 200
    assert changes.get_json()["to_scan"] == in_project["items"][0]["scan_id"]

    again = seed(scan_app)
    assert again.exit_code == 0, again.output
    assert "demo scans skipped: the demo user already has 6 scan(s)" in again.output
    assert f"demo project skipped: the demo user already has {DEMO_PROJECT!r}" in again.output
