"""GET /api/v1/findings (the review queue) and GET /api/v1/findings/feedback (one's
corrections as JSONL): the caller's own findings only, filters that mean what they say,
bounded pages, problems for malformed filters, and the very rows `flask export-corrections`
writes."""

from __future__ import annotations

import pytest

from tests.corrections import decide_all
from tests.findings import correct, export, listed, risks, scan
from tests.helpers import Accounts, assert_problem
from tests.projects import make_project
from tests.scanning import NearAnalyzer

ITEM_KEYS = {"id", "risk", "category", "context", "score", "start", "end",
             "corrected_category", "review", "risk_id", "dismissed", "dismissal", "dismissal_scope",
             "scan_id", "filename", "title", "created_at", "added_by_user", "possible",
             "answerable"}


def test_the_callers_findings_newest_scan_first_as_the_scan_answer_has_them(scored_app,
                                                                            client, accounts):
    _, headers = accounts.user()
    older = scan(client, headers, "The budget is short.")
    newer = scan(client, headers, "The vendor is late. The launch may slip.")
    body = listed(client, headers, sort="newest")
    assert (body["page"], body["per_page"], body["total"]) == (1, 20, 3)
    assert risks(body) == ["The vendor is late.", "The launch may slip.",
                           "The budget is short."]
    for item in body["items"]:
        assert set(item) == ITEM_KEYS
    first = body["items"][0]
    scan_finding = newer["data"][0]
    assert {key: first[key] for key in scan_finding} == scan_finding
    assert (first["scan_id"], first["filename"]) == (newer["scan_id"], None)
    assert first["title"] == newer["title"] == "The vendor is late. The launch may slip."
    assert first["created_at"] == newer["timestamp"]
    assert body["items"][2]["scan_id"] == older["scan_id"]


def test_by_default_the_findings_nearest_the_operating_point_come_first(scored_app, client,
                                                                         accounts):
    """Where a person's answer teaches the model the most: across scans, whatever their
    age; the stand-in has no operating point of its own, so the uncalibrated one (0.5)."""
    _, headers = accounts.user()
    scan(client, headers, "The launch may slip. The budget is short.")
    scan(client, headers, "The password is shared. The vendor is late.")
    assert risks(listed(client, headers)) == ["The vendor is late.", "The budget is short.",
                                              "The launch may slip.", "The password is shared."]
    # Filters keep working, in the same order.
    assert risks(listed(client, headers, max_score=0.8)) == [
        "The vendor is late.", "The budget is short.", "The launch may slip."]
    assert risks(listed(client, headers, per_page=1, page=2)) == ["The budget is short."]
    assert risks(listed(client, headers, sort="newest")) == [
        "The password is shared.", "The vendor is late.", "The launch may slip.",
        "The budget is short."]


@pytest.mark.parametrize(("overrides", "order"), [
    ({"MODEL_MIN_SCORE": 0.9}, ["password", "launch", "vendor", "budget"]),
    ({}, ["vendor", "launch", "budget", "password"]),  # the model's own operating point: 0.6
])
def test_the_operating_point_is_the_deployments(make_app, monkeypatch, overrides, order):
    app = make_app(**overrides)
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", NearAnalyzer())
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    scan(client, headers, min_score=0)
    assert [risk.split()[1] for risk in risks(listed(client, headers))] == order


def test_max_score_lists_the_doubtful_findings_at_or_below_it(scored_app, client, accounts):
    _, headers = accounts.user()
    scan(client, headers)
    assert risks(listed(client, headers, max_score=0.5)) == ["The budget is short."]
    assert risks(listed(client, headers, max_score=0.55, sort="newest")) == [
        "The budget is short.", "The vendor is late."]
    assert listed(client, headers, max_score=0)["total"] == 0
    assert listed(client, headers, max_score=1)["total"] == 4


def test_corrected_and_category_filter_by_the_users_label(scored_app, client, accounts):
    _, headers = accounts.user()
    found = scan(client, headers)
    by_risk = {f["risk"]: f["id"] for f in found["data"]}
    correct(client, headers, found["scan_id"], by_risk["The budget is short."], "legal")
    correct(client, headers, found["scan_id"], by_risk["The password is shared."], "none")

    assert risks(listed(client, headers, corrected="true")) == ["The budget is short.",
                                                                "The password is shared."]
    assert risks(listed(client, headers, corrected="false")) == ["The vendor is late.",
                                                                 "The launch may slip."]
    # The effective category: the user's label where there is one.
    assert risks(listed(client, headers, category="legal")) == ["The budget is short."]
    assert listed(client, headers, category="budget")["total"] == 0
    assert risks(listed(client, headers, category="none")) == ["The password is shared."]
    assert risks(listed(client, headers, category="vendor")) == ["The vendor is late."]
    # Filters combine.
    assert risks(listed(client, headers, corrected="true", max_score=0.5)) == [
        "The budget is short."]
    assert listed(client, headers, source="llm")["total"] == 0
    assert listed(client, headers, source="model")["total"] == 4


def test_another_users_findings_never_appear_and_admins_see_only_their_own(scored_app, client,
                                                                          accounts):
    _, alice = accounts.user()
    _, bob = accounts.user()
    _, admin = accounts.user(role="admin")
    alices = scan(client, alice, "The budget is short.")
    correct(client, alice, alices["scan_id"], alices["data"][0]["id"], "legal")
    scan(client, bob, "The vendor is late.")
    scan(client, admin, "The launch may slip.")

    assert risks(listed(client, bob)) == ["The vendor is late."]
    assert risks(listed(client, admin)) == ["The launch may slip."]
    for headers in (bob, admin):  # no filter reaches Alice's
        assert listed(client, headers, category="legal")["total"] == 0
        assert listed(client, headers, corrected="true")["total"] == 0
        feedback = client.get("/api/v1/findings/feedback", headers=headers)
        assert feedback.status_code == 200 and feedback.data == b""
    assert risks(listed(client, alice)) == ["The budget is short."]


def test_pages_are_bounded(scored_app, client, accounts):
    _, headers = accounts.user()
    scan(client, headers)  # 4 findings
    first = listed(client, headers, per_page=3)
    second = listed(client, headers, per_page=3, page=2)
    assert (first["total"], second["total"]) == (4, 4)
    assert len(first["items"]) == 3 and len(second["items"]) == 1
    assert not {i["id"] for i in first["items"]} & {i["id"] for i in second["items"]}
    past = listed(client, headers, per_page=3, page=9)
    assert (past["items"], past["total"]) == ([], 4)
    for args in ({"per_page": 101}, {"per_page": 0}, {"page": 0}, {"page": 2**31},
                 {"page": "x"}):
        response = client.get("/api/v1/findings", query_string=args, headers=headers)
        assert_problem(response, 422, next(iter(args)))


@pytest.mark.parametrize("name, value", [
    ("max_score", "abc"), ("max_score", "2"), ("max_score", "-1"), ("max_score", "nan"),
    ("max_score", "inf"), ("max_score", "1e400"), ("max_score", ""),
    ("corrected", "maybe"), ("corrected", "1"), ("corrected", "True"), ("corrected", "yes"),
    ("corrected", ""), ("category", "compliance"), ("category", "x" * 5000),
    ("category", "budget' OR 1=1 --"), ("source", "human"), ("source", "m" * 300),
    ("sort", "score"), ("sort", ""), ("sort", "newest; DROP TABLE findings"),
    ("project_id", "abc"), ("project_id", ""), ("project_id", "1 OR 1=1"),
    ("project_id", "0" * 37),
])
def test_a_malformed_filter_is_a_422_problem(scored_app, client, accounts, name, value):
    _, headers = accounts.user()
    response = client.get("/api/v1/findings", query_string={name: value}, headers=headers)
    assert_problem(response, 422, name)


def test_an_unknown_filter_is_a_422_too(app, client, accounts):
    _, headers = accounts.user()
    response = client.get("/api/v1/findings", query_string={"user_id": "someone"},
                          headers=headers)
    assert_problem(response, 422, "user_id")


@pytest.mark.parametrize("path", ["/api/v1/findings", "/api/v1/findings/feedback"])
def test_no_token_is_a_401(client, path):
    response = assert_problem(client.get(path), 401)
    assert response["status"] == 401


def test_the_feedback_download_is_what_the_cli_writes_for_that_user(scored_app, client,
                                                                   accounts, tmp_path):
    alice, alice_h = accounts.user()
    bob, bob_h = accounts.user()
    text = "The budget is short. The vendor is late. Ünïcode budget – “quoted”."
    first = scan(client, alice_h, text)
    again = scan(client, alice_h, text)
    bobs = scan(client, bob_h, text)
    correct(client, alice_h, first["scan_id"], first["data"][0]["id"], "legal")
    correct(client, alice_h, first["scan_id"], first["data"][2]["id"], "stakeholder")
    correct(client, bob_h, bobs["scan_id"], bobs["data"][1]["id"], "none")
    # The same sentence corrected again in a newer scan: the newest label wins, once.
    correct(client, alice_h, again["scan_id"], again["data"][0]["id"], "schedule")

    response = client.get("/api/v1/findings/feedback", headers=alice_h)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-ndjson"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="riskscan-feedback.jsonl"')
    assert response.data == export(scored_app, tmp_path / "alice.jsonl",
                                   "--user", alice["email"].upper())
    lines = response.data.decode("utf-8").splitlines()
    assert [line for line in lines if "The budget is short." in line] == [
        ('{"text": "The budget is short.", "label": "schedule", "source": '
         f'"feedback/{again["scan_id"]}"}}')]
    assert "Ünïcode budget – “quoted”." in response.data.decode("utf-8")  # not \u escapes
    assert len(lines) == 2 and "The vendor is late." not in response.data.decode("utf-8")

    bob_file = client.get("/api/v1/findings/feedback", headers=bob_h).data
    assert bob_file == export(scored_app, tmp_path / "bob.jsonl", "--user", bob["email"])
    assert bob_file.decode("utf-8").splitlines() == [
        (f'{{"text": "The vendor is late.", "label": "none", "source": '
         f'"feedback/{bobs["scan_id"]}"}}')]
    # Without --user the CLI writes what a training learns: nobody's until a reviewer
    # accepts them, then everyone's, Alice's two and Bob's one.
    assert export(scored_app, tmp_path / "all.jsonl") == b""
    _, reviewer = Accounts(scored_app, client).user(role="reviewer")
    for person in (alice, bob):
        assert decide_all(client, reviewer, person["id"], "accept").status_code == 200
    assert len(export(scored_app, tmp_path / "all.jsonl").splitlines()) == 3


def test_the_commands_name_before_corrections_had_one_word_still_exports(scored_app, client,
                                                                          accounts, tmp_path):
    """Operators' scripts call `flask export-feedback`: it is export-corrections, same rows."""
    alice, alice_h = accounts.user()
    first = scan(client, alice_h, "The budget is short. The vendor is late.")
    correct(client, alice_h, first["scan_id"], first["data"][0]["id"], "legal")
    old = tmp_path / "old.jsonl"
    result = scored_app.test_cli_runner().invoke(args=["export-feedback", "--out", str(old),
                                                       "--user", alice["email"]])
    assert result.exit_code == 0, result.output
    new = export(scored_app, tmp_path / "new.jsonl", "--user", alice["email"])
    assert old.read_bytes() == new and b'"label": "legal"' in new


def test_the_export_is_its_owners_alone_and_a_dash_is_standard_output(
        scored_app, client, accounts, tmp_path, monkeypatch):
    """Issue #86: `--out -` wrote a file named `-`, and an export of people's sentences was
    readable by all (0644) where a backup is its owner's alone. A file is written 0600 (an
    older one replaced, never reused with its mode); `-` is standard output, the summary
    line then on standard error, so that the rows pipe on whole."""
    alice, alice_h = accounts.user()
    first = scan(client, alice_h, "The budget is short. The vendor is late.")
    correct(client, alice_h, first["scan_id"], first["data"][0]["id"], "legal")
    old = tmp_path / "corrections.jsonl"
    old.write_text("an older export\n")
    old.chmod(0o644)
    written = export(scored_app, old, "--user", alice["email"])
    assert b'"label": "legal"' in written
    assert old.stat().st_mode & 0o777 == 0o600
    assert [path.name for path in tmp_path.iterdir()] == ["corrections.jsonl"]  # no .partial

    monkeypatch.chdir(tmp_path)
    result = scored_app.test_cli_runner().invoke(args=["export-corrections", "--out", "-",
                                                       "--user", alice["email"]])
    assert result.exit_code == 0, result.output
    assert result.stdout.encode() == written
    assert result.stderr == "wrote 1 corrected sentences to standard output\n"
    assert not (tmp_path / "-").exists()


def test_the_cli_refuses_an_unknown_user(app, tmp_path):
    result = app.test_cli_runner().invoke(args=["export-corrections", "--out",
                                                str(tmp_path / "x.jsonl"), "--user",
                                                "nobody@example.com"])
    assert result.exit_code != 0
    assert "no user has this email" in result.output


def test_a_scans_read_key_reads_both_and_a_projects_key_neither(scored_app, client, accounts):
    _, headers = accounts.user()
    scan(client, headers, "The budget is short.")

    def key(scope):
        created = client.post("/api/v1/auth/api-keys", headers=headers,
                              json={"name": scope, "scopes": [scope]})
        assert created.status_code == 201, created.get_json()
        return {"Authorization": f"Bearer {created.get_json()['key']}"}

    reader, other = key("scans:read"), key("projects:read")
    assert listed(client, reader)["total"] == 1
    assert client.get("/api/v1/findings/feedback", headers=reader).status_code == 200
    for path in ("/api/v1/findings", "/api/v1/findings/feedback"):
        assert_problem(client.get(path, headers=other), 403)


def test_a_finding_in_a_project_names_its_register_entry(scored_app, client, accounts):
    _, headers = accounts.user()
    project = make_project(client, headers)
    found = scan(client, headers, "The budget is short.", project_id=project["id"])
    item = listed(client, headers)["items"][0]
    assert item["risk_id"] is not None
    assert item["risk_id"] == found["data"][0]["risk_id"]


def test_both_routes_are_in_the_openapi_spec(client):
    spec = client.get("/openapi.json").get_json()
    listing = spec["paths"]["/api/v1/findings"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {
        "max_score", "corrected", "category", "source", "project_id", "sort", "page",
        "per_page"}
    assert {"401", "422"} <= set(listing["responses"])
    item = spec["components"]["schemas"]["ReviewFinding"]["properties"]
    assert set(item) == ITEM_KEYS
    assert "200" in spec["paths"]["/api/v1/findings/feedback"]["get"]["responses"]
