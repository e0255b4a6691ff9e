"""Near misses (include_possible): the sentences scored from a floor up to the operating
point come back beside a scan's findings, each `possible: true`, and count nowhere (counts,
the list's filter, the register) until a person confirms one; on JSON and form scans, the
legacy route, and (tests/test_jobs.py) batch jobs. The stand-in (tests/scanning.py
NearAnalyzer) has the model's operating point and known scores: budget 0.3, vendor 0.55,
slip 0.8, password 0.95, at an operating point of 0.6."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import func, select

from service.db import Dismissal, JobDocument
from service.extensions import db
from service.jobs import work
from tests import webhooks
from tests.helpers import Accounts, assert_problem
from tests.projects import Team, make_project, register_of
from tests.scanning import FEW, PLAIN_SENTENCES, KeywordAnalyzer, NearAnalyzer

make_hooks_app, receiver = webhooks.make_hooks_app, webhooks.receiver

TEXT = ("The budget is short. The vendor is late. The launch may slip. "
        "The password is shared. Lunch was fine.")


@pytest.fixture
def near_app(app, monkeypatch):
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", NearAnalyzer())
    return app


@pytest.fixture
def headers(near_app, client):
    return Accounts(near_app, client).user()[1]


def scan(client, headers, path="/api/v1/scans", **fields) -> dict:
    response = client.post(path, json={"text": TEXT, **fields}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def form_scan(client, headers, path="/api/v1/scans", **form) -> dict:
    response = client.post(path, data={"file": (io.BytesIO(TEXT.encode()), "week.txt"),
                                       **form},
                           headers=headers, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def shown(body) -> list[tuple[str, float, bool]]:
    return [(f["category"], f["score"], f["possible"]) for f in body["data"]]


def test_a_scan_that_asks_gets_its_near_misses_marked_and_uncounted(near_app, client,
                                                                    headers):
    plain = scan(client, headers)
    assert shown(plain) == [("schedule", 0.8, False), ("security", 0.95, False)]
    near = scan(client, headers, include_possible=True)  # POSSIBLE_FLOOR: 0.5
    assert shown(near) == [("vendor", 0.55, True), ("schedule", 0.8, False),
                           ("security", 0.95, False)]
    assert near["counts"] == plain["counts"] == {"schedule": 1, "security": 1}
    assert client.get(f"/api/v1/scans/{near['scan_id']}", headers=headers).get_json()[
        "counts"] == near["counts"]
    listed = client.get("/api/v1/scans", query_string={"category": "vendor"},
                        headers=headers).get_json()
    assert listed["total"] == 0
    pages = client.get("/api/v1/scans", headers=headers).get_json()["items"]
    assert [page["counts"] for page in pages] == [near["counts"], plain["counts"]]

    lower = scan(client, headers, include_possible=True, possible_floor=0.2)
    assert [f["possible"] for f in lower["data"]] == [True, True, False, False]
    stricter = scan(client, headers, include_possible=True, min_score=0.9)
    assert shown(stricter) == [("vendor", 0.55, True), ("schedule", 0.8, True),
                               ("security", 0.95, False)]
    assert stricter["counts"] == {"security": 1}
    above = scan(client, headers, include_possible=True, possible_floor=0.7)
    assert shown(above) == shown(plain)  # a floor over the operating point: none
    asked_off = scan(client, headers, include_possible=False, possible_floor=None)
    assert shown(asked_off) == shown(plain)
    floor_alone = scan(client, headers, possible_floor=0.2)  # read only with include_possible
    assert shown(floor_alone) == shown(plain)


def test_the_floor_is_a_setting(make_app, monkeypatch):
    app = make_app(POSSIBLE_FLOOR=0.2)
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", NearAnalyzer())
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    assert [f["possible"] for f in scan(client, headers, include_possible=True)["data"]] == [
        True, True, False, False]


def test_an_analyzer_without_an_operating_point_has_no_near_misses(app, client, monkeypatch):
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", KeywordAnalyzer())
    _, headers = Accounts(app, client).user()
    body = scan(client, headers, include_possible=True, possible_floor=0.1)
    assert [f["possible"] for f in body["data"]] == [False] * 4


def test_form_scans_and_the_legacy_route_ask_for_them_too(near_app, client, headers):
    expected = [("vendor", 0.55, True), ("schedule", 0.8, False), ("security", 0.95, False)]
    assert shown(form_scan(client, headers, include_possible="true")) == expected
    assert shown(form_scan(client, headers, path="/api/scan", include_possible="on")) == \
        expected
    assert shown(scan(client, headers, path="/api/scan", include_possible=True)) == expected
    floor = form_scan(client, headers, include_possible="true", possible_floor="0.2")
    assert [f["possible"] for f in floor["data"]] == [True, True, False, False]
    off = form_scan(client, headers, include_possible="false", possible_floor="")
    assert [f["possible"] for f in off["data"]] == [False, False]
    alone = form_scan(client, headers, possible_floor="0.2")
    assert [f["possible"] for f in alone["data"]] == [False, False]
    legacy = client.get(f"/api/scans/{floor['scan_id']}", headers=headers).get_json()
    assert [f["possible"] for f in legacy["data"]] == [True, True, False, False]


@pytest.mark.parametrize(("fields", "field"), [
    ({"include_possible": "yes"}, "include_possible"),
    ({"include_possible": 1}, "include_possible"),
    ({"include_possible": True, "possible_floor": 1.5}, "possible_floor"),
    ({"include_possible": True, "possible_floor": -0.1}, "possible_floor"),
    ({"include_possible": True, "possible_floor": "0.2"}, "possible_floor"),
])
@pytest.mark.parametrize("path", ["/api/v1/scans", "/api/scan"])
def test_malformed_json_fields_are_422_naming_them(near_app, client, headers, fields, field,
                                                   path):
    response = client.post(path, json={"text": TEXT, **fields}, headers=headers)
    assert_problem(response, 422, field)


@pytest.mark.parametrize(("form", "field"), [
    ({"include_possible": "maybe"}, "include_possible"),
    ({"include_possible": "true", "possible_floor": "abc"}, "possible_floor"),
    ({"include_possible": "true", "possible_floor": "nan"}, "possible_floor"),
    ({"include_possible": "true", "possible_floor": "2"}, "possible_floor"),
    ({"possible_floor": "-1"}, "possible_floor"),
])
@pytest.mark.parametrize("path", ["/api/v1/scans", "/api/scan"])
def test_malformed_form_fields_are_422_naming_them(near_app, client, headers, form, field,
                                                   path):
    response = client.post(path, data={"text": TEXT, **form}, headers=headers,
                           content_type="multipart/form-data")
    assert_problem(response, 422, field)


def test_a_confirmed_near_miss_joins_the_register_and_a_dismissed_one_stays_out(
        near_app, client, headers):
    project = make_project(client, headers)
    body = scan(client, headers, include_possible=True, possible_floor=0.2,
                project_id=project["id"])
    budget, vendor = body["data"][:2]
    assert (budget["possible"], vendor["possible"]) == (True, True)
    assert (budget["risk_id"], vendor["risk_id"]) == (None, None)
    assert sorted(e["category"] for e in register_of(client, headers, project["id"])) == [
        "schedule", "security"]

    path = f"/api/v1/scans/{body['scan_id']}/findings"
    confirmed = client.patch(f"{path}/{vendor['id']}", json={"category": "vendor"},
                             headers=headers).get_json()
    assert (confirmed["possible"], confirmed["corrected_category"]) == (False, "vendor")
    dismissed = client.patch(f"{path}/{budget['id']}", json={"category": "none"},
                             headers=headers).get_json()
    assert (dismissed["possible"], dismissed["corrected_category"]) == (True, "none")
    entries = {e["category"]: e for e in register_of(client, headers, project["id"])}
    assert entries.keys() == {"vendor", "schedule", "security"}
    assert confirmed["risk_id"] == entries["vendor"]["id"]
    stored = client.get(f"/api/v1/scans/{body['scan_id']}", headers=headers).get_json()
    assert stored["counts"] == {"vendor": 1, "schedule": 1, "security": 1}
    # A near miss was never in the register: dismissing it dismisses nothing there.
    with near_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Dismissal)) == 0
        db.session.remove()
    # Unless a member says so for later reports too: then it is a dismissal of its label.
    later = client.patch(f"{path}/{budget['id']}", json={"category": "none", "scope": "later"},
                         headers=headers).get_json()
    assert (later["possible"], later["dismissal_scope"]) == (True, "later")
    (dismissal,) = client.get(f"/api/v1/projects/{project['id']}/dismissals",
                              headers=headers).get_json()["items"]
    assert (dismissal["risk"], dismissal["category"]) == (budget["risk"], "budget")
    # Both answers are training rows.
    rows = client.get("/api/v1/findings/feedback", headers=headers).get_data(as_text=True)
    assert '"label": "none"' in rows and '"label": "vendor"' in rows
    # Dismissed, then confirmed after all: it joins then.
    again = client.patch(f"{path}/{budget['id']}", json={"category": "budget"},
                         headers=headers).get_json()
    assert again["possible"] is False and again["risk_id"] is not None


def test_a_scan_moved_into_a_project_brings_only_its_findings(near_app, client, headers):
    project = make_project(client, headers)
    body = scan(client, headers, include_possible=True)
    moved = client.patch(f"/api/v1/scans/{body['scan_id']}", json={"project_id": project["id"]},
                         headers=headers)
    assert moved.status_code == 200, moved.get_json()
    assert sorted(e["category"] for e in register_of(client, headers, project["id"])) == [
        "schedule", "security"]
    assert [f["risk_id"] is None for f in moved.get_json()["data"]] == [True, False, False]


def test_the_model_splits_at_its_operating_point(scan_client, accounts_on_model):
    """The trained model: a scan's findings are the same with or without its near misses,
    and each near miss scores from the floor up to the operating point."""
    text = f"{FEW} {PLAIN_SENTENCES[0]} {PLAIN_SENTENCES[1]}"
    headers = accounts_on_model
    plain = scan_client.post("/api/v1/scans", json={"text": text, "min_score": 0.9},
                             headers=headers).get_json()
    near = scan_client.post("/api/v1/scans", json={
        "text": text, "min_score": 0.9, "include_possible": True, "possible_floor": 0.0},
        headers=headers).get_json()
    found = [(f["start"], f["category"], f["score"]) for f in near["data"] if not f["possible"]]
    assert found == [(f["start"], f["category"], f["score"]) for f in plain["data"]]
    possible = [f for f in near["data"] if f["possible"]]
    assert possible, "every sentence scores at least 0: the plain ones are near misses here"
    assert all(0.0 <= f["score"] < 0.9 for f in possible)
    assert near["counts"] == plain["counts"]


@pytest.fixture
def accounts_on_model(scan_app, scan_client):
    return Accounts(scan_app, scan_client).user()[1]


class Inert:
    """A jobs engine that runs nothing: the test runs each document's task itself."""

    def submit(self, document_ids):
        pass


def test_a_job_may_ask_for_its_documents_near_misses(make_app, monkeypatch):
    """Each document's scan gets the near misses the job asked for, from its floor (the
    job's row keeps both for whichever worker runs the document, the task read here)."""
    app = make_app()
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", NearAnalyzer())
    app.extensions["riskscan.jobs"] = Inert()
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    text = b"The budget is short. The vendor is late. The launch may slip."

    def job(**form):
        return client.post("/api/v1/jobs", headers=headers, content_type="multipart/form-data",
                           data={"files": [(io.BytesIO(text), "a.txt"),
                                           (io.BytesIO(text), "b.txt")], **form})

    asked, plain = job(include_possible="true", possible_floor="0.2"), job()
    for response, expected in ((asked, [("budget", True), ("vendor", True),
                                        ("schedule", False)]),
                               (plain, [("schedule", False)])):
        assert response.status_code == 202, response.get_json()
        job_id = response.get_json()["job_id"]
        with app.app_context():
            documents = db.session.scalars(select(JobDocument.id).where(
                JobDocument.job_id == job_id)).all()
            assert [work.run_document(document) for document in documents] == ["done"] * 2
            db.session.remove()
        for document in client.get(f"/api/v1/jobs/{job_id}", headers=headers).get_json()[
                "documents"]:
            scan = client.get(f"/api/v1/scans/{document['scan_id']}", headers=headers)
            assert [(f["category"], f["possible"]) for f in scan.get_json()["data"]] == expected
            assert scan.get_json()["counts"] == {"schedule": 1}
    for form, field in (({"include_possible": "perhaps"}, "include_possible"),
                        ({"include_possible": "true", "possible_floor": "7"}, "possible_floor"),
                        ({"possible_floor": "x"}, "possible_floor")):
        assert_problem(job(**form), 422, field)
    assert len(client.get("/api/v1/jobs", headers=headers).get_json()["items"]) == 2


def test_a_finding_made_at_a_finer_operating_point_is_never_split_off_as_a_near_miss():
    """Calibration writes operating points of many digits, scores are rounded to four: a
    sentence the model reported (its score at or above the point) stays a finding."""
    from service.analysis.base import Finding
    from service.scans.possible import split

    class Calibrated:
        min_score = 0.97123456

    def found(score):
        return Finding(risk="r", category="budget", context="r", score=score, start=0, end=1)

    kept = found(0.9712)  # the model's unrounded 0.971236 reached the point
    near = found(0.9711)
    assert split([kept, near], Calibrated(), None, 0.5) == [(kept, False), (near, True)]
    assert split([kept, near], Calibrated(), None, None) == [(kept, False), (near, False)]
    assert split([near], KeywordAnalyzer(), None, 0.5) == [(near, False)]  # no point: none


def test_a_near_miss_is_confirmed_in_the_category_a_person_chooses_in_one_step(
        make_hooks_app, monkeypatch, receiver):
    """Confirming a near miss takes its category: the register opens one entry, in that
    category, and its webhook hears one `risk.created` of it (not the model's category
    first, then a correction). Who may not confirm, and an unknown category, change
    nothing."""
    app = make_hooks_app()
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", NearAnalyzer())
    team = Team(app, app.test_client())
    client = team.client
    webhook = webhooks.create(team, f"{receiver.url}/hook", events=["risk.created"])
    body = scan(client, team.editor_h, include_possible=True, project_id=team.id)
    [vendor] = [f for f in body["data"] if f["possible"]]
    assert vendor["category"] == "vendor"
    webhooks.settled(app)
    before = webhooks.drain(receiver)  # the scan's own two risks
    assert len(before) == 2
    path = f"/api/v1/scans/{body['scan_id']}/findings/{vendor['id']}"

    for headers, status in ((None, 401), (team.outsider_h, 404), (team.viewer_h, 403)):
        assert_problem(client.patch(path, json={"category": "budget"}, headers=headers),
                       status)
    for wrong in ("finance", "", "BUDGET", None, 3):
        assert_problem(client.patch(path, json={"category": wrong}, headers=team.editor_h),
                       422, "category")
    unchanged = client.get(path, headers=team.editor_h).get_json()
    assert (unchanged["possible"], unchanged["corrected_category"]) == (True, None)
    assert sorted(e["category"] for e in register_of(client, team.owner_h, team.id)) == [
        "schedule", "security"]

    confirmed = client.patch(path, json={"category": "budget"}, headers=team.editor_h)
    assert confirmed.status_code == 200, confirmed.get_json()
    confirmed = confirmed.get_json()
    assert (confirmed["possible"], confirmed["category"], confirmed["corrected_category"]) == (
        False, "vendor", "budget")
    entries = {e["category"]: e for e in register_of(client, team.owner_h, team.id)}
    assert entries.keys() == {"budget", "schedule", "security"}
    assert (entries["budget"]["risk"], entries["budget"]["id"]) == (
        vendor["risk"], confirmed["risk_id"])
    webhooks.settled(app)
    [request] = webhooks.drain(receiver)
    assert webhooks.verify(webhook["secret"], request)
    sent = json.loads(request.body)
    assert (sent["type"], sent["data"]["risk"]["id"], sent["data"]["risk"]["category"]) == (
        "risk.created", entries["budget"]["id"], "budget")
    stored = client.get(f"/api/v1/scans/{body['scan_id']}", headers=team.viewer_h).get_json()
    assert stored["counts"] == {"budget": 1, "schedule": 1, "security": 1}
