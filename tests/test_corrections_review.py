"""Who teaches the model (service/serving/corrections.py, review_routes.py, regressions.py):
people's corrections wait for a reviewer before a training may learn them, each person's
vote counts once, a deactivated account's none, and a candidate that lost a label is not
activated without an override that names it. On SQLite and MariaDB, with the test model.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from service.config import current_settings
from service.db import AuditEvent, ScanFinding, User
from service.extensions import db
from service.serving import corrections
from tests.corrections import (
    REVIEW,
    TEXT,
    add,
    base_models_root,
    correct,
    decide_all,
    missed,
    scan,
)
from tests.helpers import PASSWORD, Accounts, api_key_headers, assert_problem, at_once


@pytest.fixture(scope="session")
def shared_root(tmp_path_factory, scan_model_dir):
    """One root for the tests that only read it: one model loaded for all of them."""
    return base_models_root(tmp_path_factory.mktemp("review"), Path(scan_model_dir))


@pytest.fixture
def root(tmp_path, scan_model_dir):
    """A root of the test's own, for the tests that write candidates into it."""
    return base_models_root(tmp_path, Path(scan_model_dir))


@pytest.fixture
def app(make_app, shared_root):
    return make_app(MODEL_DIR=str(shared_root), TRAINING_MIN_CORRECTIONS=1)


@pytest.fixture
def registry_app(make_app, root):
    return make_app(MODEL_DIR=str(root))


@pytest.fixture
def people(app):
    client = app.test_client()
    accounts = Accounts(app, client)
    return client, accounts


def rows(app) -> list[dict]:
    with app.app_context():
        return list(corrections.training_rows())


def flood(client, headers) -> dict:
    """What a hostile account does: every finding corrected to none, and a risk added."""
    scanned = scan(client, headers)
    for finding in scanned["data"]:
        correct(client, headers, scanned, finding, "none")
    add(client, headers, scanned)
    return scanned


def test_a_users_corrections_wait_for_a_reviewer_and_teach_nothing_before(app, people):
    client, accounts = people
    mallory, headers = accounts.user()
    _, admin = accounts.user(role="admin")
    scanned = flood(client, headers)

    # The scan shows what Mallory said: corrections change scans at once.
    shown = client.get(f"/api/v1/scans/{scanned['scan_id']}", headers=headers).get_json()
    assert {f["corrected_category"] for f in shown["data"]} >= {"none", "resource"}
    # Nothing of it teaches: no training row, no export, no training.
    assert rows(app) == []
    refused = client.post("/api/v1/admin/models/trainings", headers=admin, json={})
    assert "accepted by a reviewer" in assert_problem(refused, 422, "corrections")["detail"]
    out = Path(current_settings(app).UPLOAD_DIR).parent / "export.jsonl"
    result = app.test_cli_runner().invoke(args=["export-corrections", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == ""

    # The review lists them by contributor and label.
    who = client.get(f"{REVIEW}/contributors", headers=admin).get_json()["items"]
    assert [(p["email"], p["labels"]) for p in who] == [
        (mallory["email"], {"none": len(scanned["data"]), "resource": 1})]
    pending = client.get(REVIEW, headers=admin, query_string={"per_page": 100}).get_json()
    assert pending["total"] == len(scanned["data"]) + 1
    assert {item["contributor_email"] for item in pending["items"]} == {mallory["email"]}
    added = next(item for item in pending["items"] if item["added_by_user"])
    assert (added["sentence"], added["label"], added["review"]) == (
        missed(scanned), "resource", "pending")

    # Her "none"s rejected, her added risk accepted: only that one teaches.
    rejected = decide_all(client, admin, mallory["id"], "reject", label="none")
    assert rejected.get_json() == {"decision": "rejected", "changed": len(scanned["data"]),
                                   "pending": 1}
    accepted = client.post(f"{REVIEW}/review", headers=admin, json={
        "decision": "accept", "findings": [{"id": added["finding_id"], "label": "resource"}]})
    assert accepted.get_json()["changed"] == 1
    assert [(row["text"], row["label"]) for row in rows(app)] == [
        (missed(scanned), "resource")]
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "corrections_reviewed")).all()
        assert sorted((e.details["decision"], e.details["changed"]) for e in events) == [
            ("accepted", 1), ("rejected", len(scanned["data"]))]

    # Correcting it again asks the reviewer again.
    correct(client, headers, scanned, {"id": added["finding_id"]}, "legal")
    assert rows(app) == []


def test_a_reviewers_own_correction_teaches_at_once(app, people):
    client, accounts = people
    _, headers = accounts.user(role="reviewer")
    scanned = scan(client, headers)
    first = scanned["data"][0]
    label = "legal" if first["category"] != "legal" else "budget"
    correct(client, headers, scanned, first, label)
    assert [(row["text"], row["label"]) for row in rows(app)] == [(first["risk"], label)]


def test_under_four_eyes_review_a_reviewers_own_correction_waits_for_another(
        make_app, shared_root):
    """REVIEW_FOUR_EYES: a reviewer's (an admin's) own correction teaches nothing until
    another reviewer accepts it, and its author may not decide it, alone or among others:
    403, and nothing is decided."""
    app = make_app(MODEL_DIR=str(shared_root), REVIEW_FOUR_EYES=True)
    client = app.test_client()
    accounts = Accounts(app, client)
    author, headers = accounts.user(role="reviewer")
    _, user_headers = accounts.user()
    scanned = scan(client, headers)
    first = scanned["data"][0]
    label = "legal" if first["category"] != "legal" else "budget"
    correct(client, headers, scanned, first, label)
    added = add(client, user_headers, scan(client, user_headers))
    assert rows(app) == []
    listed = client.get(REVIEW, headers=headers).get_json()["items"]
    assert {item["finding_id"] for item in listed} == {first["id"], added["id"]}
    both = [{"id": item["finding_id"], "label": item["label"]} for item in listed]
    refused = assert_problem(client.post(f"{REVIEW}/review", headers=headers,
                                         json={"decision": "accept", "findings": both}), 403)
    assert refused["errors"]["own_corrections"] == [first["id"]]
    assert_problem(decide_all(client, headers, author["id"], "accept"), 403)
    assert rows(app) == []  # nothing decided, the user's correction neither
    _, second = accounts.user(role="admin")
    decided = client.post(f"{REVIEW}/review", headers=second,
                          json={"decision": "accept", "findings": both})
    assert decided.status_code == 200, decided.get_json()
    assert decided.get_json()["changed"] == 2
    assert {(row["text"], row["label"]) for row in rows(app)} >= {(first["risk"], label)}
    # Without the setting (the default), a reviewer's own correction teaches at once: above.


def test_each_person_votes_once_and_the_majority_decides(app, people):
    """Three people say vendor, a fourth says none later: vendor, not the newest word. Two
    against two: the sentence is dropped."""
    client, accounts = people
    _, admin = accounts.user(role="admin")
    voters = [accounts.user() for _ in range(4)]
    sentence = None
    for (_, headers), label in zip(voters, ["vendor", "vendor", "vendor", "none"]):
        scanned = scan(client, headers)
        finding = scanned["data"][0]
        sentence = finding["risk"]
        # One person saying it twice is still one vote.
        correct(client, headers, scanned, finding, label)
        if label == "none":
            second = scan(client, headers)
            correct(client, headers, second, second["data"][0], "none")
    for voter, _ in voters:
        decided = decide_all(client, admin, voter["id"], "accept")
        assert decided.status_code == 200
    taught = rows(app)
    assert [(row["text"], row["label"]) for row in taught] == [(sentence, "vendor")]
    assert sorted(taught[0]["contributors"]) == sorted(v["id"] for v, _ in voters[:3])

    # One vendor voter changes their mind: two against two, nobody's word outweighs.
    headers = voters[0][1]
    scanned = scan(client, headers)
    correct(client, headers, scanned, scanned["data"][0], "none")
    decide_all(client, admin, voters[0][0]["id"], "accept")
    assert rows(app) == []


def test_a_deactivated_or_deleted_accounts_rows_never_teach(app, people):
    client, accounts = people
    _, admin = accounts.user(role="admin")
    (gone, gone_headers), (left, left_headers) = accounts.user(), accounts.user()
    for headers in (gone_headers, left_headers):
        add(client, headers, scan(client, headers))
    for person in (gone, left):
        decide_all(client, admin, person["id"], "accept")
    assert len(rows(app)) == 1 and len(rows(app)[0]["contributors"]) == 2

    assert client.patch(f"/api/v1/users/{left['id']}", headers=admin,
                        json={"active": False}).status_code == 200
    assert rows(app)[0]["contributors"] == [gone["id"]]
    assert client.delete(f"/api/v1/users/{gone['id']}", headers=admin).status_code == 204
    assert rows(app) == []


def test_only_reviewers_and_admins_review(app, people):
    client, accounts = people
    user, headers = accounts.user()
    add(client, headers, scan(client, headers))
    for path, method, body in ((REVIEW, "GET", None), (f"{REVIEW}/contributors", "GET", None),
                               (f"{REVIEW}/review", "POST",
                                {"decision": "accept", "contributor": user["id"]})):
        refused = assert_problem(client.open(path, method=method, headers=headers, json=body),
                                 403)
        assert "an admin grants it on the Users page" in refused["detail"]  # whom to ask
        assert_problem(client.open(path, method=method, json=body), 401)
    # A user's key cannot carry the review's scope; a reviewer's can.
    keyed = client.post("/api/v1/auth/api-keys", headers=headers,
                        json={"name": "review", "scopes": ["corrections:review"]})
    assert "corrections:review" in assert_problem(keyed, 422, "scopes")["detail"]
    _, reviewer = accounts.user(role="reviewer")
    assert client.get(REVIEW, headers=reviewer).get_json()["total"] == 1
    assert client.get(REVIEW, headers=api_key_headers(
        client, reviewer, "corrections:review")).get_json()["total"] == 1
    # An admin's key without the scope may not; with it, it may.
    _, admin = accounts.user(role="admin")
    assert_problem(client.get(REVIEW, headers=api_key_headers(client, admin, "admin:read")), 403)
    keyed = api_key_headers(client, admin, "corrections:review")
    assert client.get(REVIEW, headers=keyed).status_code == 200
    assert rows(app) == []


AS_OF = "2026-11-28T12:00:00+00:00"
ONE = [{"id": 1, "label": "none"}]
MALFORMED = [
    {}, {"decision": "accept"}, {"decision": "maybe", "findings": ONE},
    {"decision": "accept", "findings": []}, {"decision": "accept", "findings": [{"id": 0,
                                                                               "label": "none"}]},
    {"decision": "accept", "findings": [{"id": i, "label": "none"} for i in range(1, 502)]},
    {"decision": "accept", "findings": ONE, "contributor": "x", "as_of": AS_OF},
    {"decision": "accept", "findings": ONE, "label": "none"},
    {"decision": "accept", "findings": ONE, "as_of": AS_OF},
    {"decision": "accept", "findings": [1]}, {"decision": "accept", "findings": [{"id": 1}]},
    {"decision": "accept", "findings": [{"id": 1, "label": "weather"}]},
    {"decision": "accept", "contributor": "x", "label": "weather", "as_of": AS_OF},
    {"decision": "accept", "contributor": "x"},  # as_of: what was shown, required
    {"decision": "accept", "contributor": "x", "as_of": "yesterday"},
    {"decision": "accept", "findings": [{"id": "1; DROP TABLE findings", "label": "none"}]},
    [1, 2], "accept",
]


def test_malformed_decisions_are_422_and_change_nothing(app, people):
    client, accounts = people
    _, headers = accounts.user()
    add(client, headers, scan(client, headers))
    _, admin = accounts.user(role="admin")
    for body in MALFORMED:
        assert_problem(client.post(f"{REVIEW}/review", headers=admin, json=body), 422)
    for query in ({"review": "done"}, {"label": "weather"}, {"contributor": "x" * 37},
                  {"per_page": 10**6}):
        assert_problem(client.get(REVIEW, headers=admin, query_string=query), 422)
    assert_problem(client.get(f"{REVIEW}/contributors", headers=admin,
                              query_string={"review": "all"}), 422)
    assert rows(app) == []
    assert client.get(REVIEW, headers=admin).get_json()["total"] == 1


def test_corrections_are_rate_limited_per_person(make_app, shared_root):
    app = make_app(MODEL_DIR=str(shared_root), RATE_LIMIT_ENABLED=True,
                   RATE_LIMIT_CORRECTIONS="2 per minute")
    client = app.test_client()
    accounts = Accounts(app, client)
    _, headers = accounts.user()
    scanned = scan(client, headers)
    finding = scanned["data"][0]
    path = f"/api/v1/scans/{scanned['scan_id']}/findings/{finding['id']}"
    assert [client.patch(path, headers=headers, json={"category": label}).status_code
            for label in ("none", "legal")] == [200, 200]
    assert_problem(client.patch(path, headers=headers, json={"category": "budget"}), 429)
    start = TEXT.index(missed(scanned))
    assert_problem(client.post(f"/api/v1/scans/{scanned['scan_id']}/findings", headers=headers,
                               json={"start": start, "end": start + len(missed(scanned)),
                                     "category": "resource"}), 429)
    # Another person has a budget of their own.
    _, other = accounts.user()
    theirs = scan(client, other)
    correct(client, other, theirs, theirs["data"][0], "none")


# --- a candidate that lost a label ------------------------------------------------------


def lost_label(root, name="cand", *, label=None, drop=0.5) -> str:
    """``name``: the test model copied, its card saying ``label`` (the base's best by test
    F1 where None) fell by ``drop``; the label."""
    shutil.copytree(root / "base", root / name)
    metrics = json.loads((root / name / "metrics.json").read_text())
    per_label = metrics["test"]["per_label"]
    label = label or max(per_label, key=lambda key: per_label[key]["f1"])
    per_label[label]["f1"] = max(0.0, per_label[label]["f1"] - drop)
    (root / name / "metrics.json").write_text(json.dumps(metrics))
    return label


def test_a_candidate_that_lost_a_label_is_refused_without_an_override(registry_app, root):
    app = registry_app
    client, accounts = app.test_client(), Accounts(registry_app, registry_app.test_client())
    _, admin = accounts.user(role="admin")
    label = lost_label(root)
    listed = {m["version"]: m for m in client.get("/api/v1/admin/models",
                                                  headers=admin).get_json()["items"]}
    assert list(listed["cand"]["regressions"]) == [label]
    assert listed["base"]["regressions"] == {}

    refused = client.post("/api/v1/admin/models/cand/activate", headers=admin)
    body = assert_problem(refused, 409, "override")
    assert body["errors"]["override"] == [label] and f"{label} F1" in body["detail"]
    wrong = next(other for other in ("legal", "budget", "vendor") if other != label)
    assert_problem(client.post("/api/v1/admin/models/cand/activate", headers=admin,
                               json={"override": [wrong]}), 409, "override")
    assert client.get("/api/v1/admin/models", headers=admin).get_json()["active"] == "base"

    done = client.post("/api/v1/admin/models/cand/activate", headers=admin,
                       json={"override": [label]})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["active_version"] == "cand"
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "model_activated")).one()
        assert event.details["override"] == [label] and event.details["to"] == "cand"


def test_a_small_drop_is_no_regression_and_fewer_risks_found_is(registry_app, root):
    client = registry_app.test_client()
    accounts = Accounts(registry_app, client)
    _, admin = accounts.user(role="admin")
    lost_label(root, "near", drop=0.05)
    shutil.copytree(root / "base", root / "blind")
    metrics = json.loads((root / "blind" / "metrics.json").read_text())
    metrics.setdefault("documents", {})["dev"] = {"overall": {"recall": 0.3}}
    (root / "blind" / "metrics.json").write_text(json.dumps(metrics))
    base = json.loads((root / "base" / "metrics.json").read_text())
    base.setdefault("documents", {})["dev"] = {"overall": {"recall": 0.5}}
    (root / "base" / "metrics.json").write_text(json.dumps(base))

    listed = {m["version"]: m["regressions"] for m in client.get(
        "/api/v1/admin/models", headers=admin).get_json()["items"]}
    assert listed["near"] == {} and list(listed["blind"]) == ["documents"]
    assert client.post("/api/v1/admin/models/near/activate", headers=admin).status_code == 200
    # Beside the active "near" now (its dev recall unknown): "blind" is compared with it.
    assert_problem(client.post("/api/v1/admin/models/base/activate", headers=admin,
                               json={"override": "documents"}), 422, "override")


def test_a_correction_in_another_users_scan_is_theirs_not_the_scans_owner(app, people):
    """A project's editor correcting the owner's scan: the vote is the editor's."""
    client, accounts = people
    _, owner_headers = accounts.user()
    editor, editor_headers = accounts.user()
    project = client.post("/api/v1/projects", headers=owner_headers,
                          json={"name": "Votes"}).get_json()
    assert client.post(f"/api/v1/projects/{project['id']}/members", headers=owner_headers,
                       json={"email": editor["email"], "role": "editor"}).status_code == 201
    scanned = client.post("/api/v1/scans", headers=owner_headers,
                          json={"text": TEXT, "project_id": project["id"]}).get_json()
    add(client, editor_headers, scanned)
    with app.app_context():
        finding = db.session.scalars(select(ScanFinding).where(
            ScanFinding.added_by_user.is_(True))).one()
        assert (finding.corrected_by, finding.review) == (editor["id"], "pending")
        assert db.session.get(User, editor["id"]).role == "user"


# --- the console's Corrections page -------------------------------------------------------


def browse(app, email):
    """A signed-in browser of ``email``."""
    client = app.test_client()
    page = client.get("/app/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    signed = client.post("/app/sign-in", data={"email": email, "password": PASSWORD,
                                               "csrf_token": token})
    assert signed.status_code == 302
    return client


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_a_reviewer_decides_in_the_console_and_a_user_cannot(app, people):
    client, accounts = people
    mallory, headers = accounts.user()
    scanned = flood(client, headers)
    reviewer, _ = accounts.user(role="reviewer")
    browser = browse(app, reviewer["email"])

    page = browser.get("/app/corrections")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert mallory["email"] in text and f"not a risk {len(scanned['data'])}" in text
    assert 'href="/app/corrections"' in text  # in the reviewer's navigation
    # Ticking nothing says so; ticking the added risk accepts it.
    answer = browser.post("/app/corrections/review", data={
        "csrf_token": csrf(text), "decision": "accept"}, follow_redirects=True)
    assert "Tick the corrections to decide first." in answer.get_data(as_text=True)
    row = next(row for row in re.split(r"<tr[ >]", text) if missed(scanned) in row)
    added = re.search(r'name="finding" value="(\d+:\w+)"', row).group(1)
    answer = browser.post("/app/corrections/review", data={
        "csrf_token": csrf(text), "decision": "accept", "finding": added},
        follow_redirects=True)
    assert "Accepted 1 correction;" in answer.get_data(as_text=True)
    # Mallory's "none"s, all of them in one press.
    newest = re.search(r'name="as_of" value="([^"]+)"', text).group(1)
    answer = browser.post("/app/corrections/review", data={
        "csrf_token": csrf(text), "decision": "reject", "contributor": mallory["id"],
        "as_of": newest}, follow_redirects=True)
    assert f"Rejected {len(scanned['data'])} corrections; 0 still waiting." in answer.get_data(
        as_text=True)
    assert [row["label"] for row in rows(app)] == ["resource"]

    # A plain user gets the API's refusal, and no link.
    user_browser = browse(app, mallory["email"])
    assert 'href="/app/corrections"' not in user_browser.get("/app/scan").get_data(as_text=True)
    assert user_browser.get("/app/corrections").status_code == 403
    refused = user_browser.post("/app/corrections/review", data={
        "csrf_token": csrf(user_browser.get("/app/scan").get_data(as_text=True)),
        "decision": "accept", "contributor": mallory["id"]})
    assert refused.status_code == 403
    assert [row["label"] for row in rows(app)] == ["resource"]


def test_the_console_activates_a_regressed_candidate_only_with_each_box_ticked(registry_app,
                                                                              root):
    app, client = registry_app, registry_app.test_client()
    accounts = Accounts(app, client)
    admin, _ = accounts.user(role="admin")
    label = lost_label(root)
    browser = browse(app, admin["email"])
    page = browser.get("/app/admin/models/cand/activate").get_data(as_text=True)
    assert f'name="override" value="{label}"' in page and f"{label} F1" in page
    answer = browser.post("/app/admin/models/cand/activate", data={
        "csrf_token": csrf(page), "serving": "base"}, follow_redirects=True)
    assert "lost ground" in answer.get_data(as_text=True)
    token = accounts.login(admin["email"])["access_token"]
    assert client.get("/api/v1/admin/models", headers={"Authorization": f"Bearer {token}"}
                      ).get_json()["active"] == "base"
    answer = browser.post("/app/admin/models/cand/activate", data={
        "csrf_token": csrf(page), "serving": "base", "override": label}, follow_redirects=True)
    assert "Model cand serves now" in answer.get_data(as_text=True)


def test_reviewers_deciding_at_once_decide_each_correction_once(app, people):
    """Four reviewers accept one contributor's corrections at the same moment: each row is
    accepted once (the UPDATE judges it as it stands), and every answer is a 200."""
    client, accounts = people
    contributor, headers = accounts.user()
    scanned = flood(client, headers)
    _, admin = accounts.user(role="admin")
    people = client.get(f"{REVIEW}/contributors", headers=admin).get_json()["items"]
    answers = at_once(app, "POST", f"{REVIEW}/review", parallel=4, headers=admin,
                      json={"decision": "accept", "contributor": contributor["id"],
                            "as_of": people[0]["newest_at"]})
    assert [answer.status_code for answer in answers] == [200] * 4
    assert sum(answer.get_json()["changed"] for answer in answers) == len(scanned["data"]) + 1
    assert client.get(REVIEW, headers=admin).get_json()["total"] == 0


def test_a_decision_by_id_binds_the_label_the_reviewer_was_shown(app, people):
    """Issue #75, item 2: the reviewer lists a correction labelled none, the contributor
    re-corrects it to legal, and "accept" by id accepted legal. Now it is a 409 and nothing
    is decided; the label now shown is decided as shown."""
    client, accounts = people
    _, headers = accounts.user()
    scanned = scan(client, headers)
    finding = scanned["data"][0]
    correct(client, headers, scanned, finding, "none")
    _, reviewer = accounts.user(role="reviewer")
    [listed] = client.get(REVIEW, headers=reviewer).get_json()["items"]
    assert listed["label"] == "none"

    correct(client, headers, scanned, finding, "legal")
    body = assert_problem(client.post(f"{REVIEW}/review", headers=reviewer, json={
        "decision": "accept", "findings": [{"id": listed["finding_id"], "label": "none"}]}), 409)
    assert body["errors"]["changed_since"] == [listed["finding_id"]]
    assert rows(app) == []
    assert client.get(REVIEW, headers=reviewer).get_json()["items"][0]["review"] == "pending"

    accepted = client.post(f"{REVIEW}/review", headers=reviewer, json={
        "decision": "accept", "findings": [{"id": listed["finding_id"], "label": "legal"}]})
    assert accepted.status_code == 200 and accepted.get_json()["changed"] == 1
    assert [row["label"] for row in rows(app)] == ["legal"]


def test_accepting_all_decides_only_the_corrections_shown(app, people):
    """Issue #75, item 2: "Accept all 1", pressed after the contributor made five more,
    accepted six. A decision on all of a contributor's corrections reaches as far as the
    newest one shown: in the console and through the API, later ones stay pending."""
    client, accounts = people
    contributor, headers = accounts.user()
    add(client, headers, scan(client, headers))
    reviewer, reviewer_headers = accounts.user(role="reviewer")
    browser = browse(app, reviewer["email"])
    page = browser.get("/app/corrections").get_data(as_text=True)
    assert "Accept all 1" in page

    flood(client, headers)  # more corrections, after the page was shown
    waiting = client.get(REVIEW, headers=reviewer_headers).get_json()["total"]
    assert waiting > 1
    answer = browser.post("/app/corrections/review", data={
        "csrf_token": csrf(page), "decision": "accept", "contributor": contributor["id"],
        "as_of": re.search(r'name="as_of" value="([^"]+)"', page).group(1)},
        follow_redirects=True)
    assert f"Accepted 1 correction; {waiting - 1} still waiting." in answer.get_data(
        as_text=True)
    assert [row["label"] for row in rows(app)] == ["resource"]


def card_says(root, name: str, *, base="base", label=None, f1=None, precision=None) -> None:
    """``name``: the test model copied, its card saying ``label``'s test F1 is ``f1`` and
    the development documents' precision ``precision`` (each where given)."""
    if not (root / name).exists():
        shutil.copytree(root / base, root / name)
    metrics = json.loads((root / name / "metrics.json").read_text())
    if label is not None:
        metrics["test"]["per_label"][label]["f1"] = f1
    if precision is not None:
        metrics.setdefault("documents", {})["dev"] = {"overall": {"precision": precision}}
    (root / name / "metrics.json").write_text(json.dumps(metrics))


def test_a_candidate_whose_findings_lost_precision_is_refused_without_an_override(
        registry_app, root):
    """Issue #75, item 5: the gate read F1 and recall only, and a candidate whose findings on
    the development documents fell from 0.78 to 0.70 in precision was activated unwarned."""
    client = registry_app.test_client()
    _, admin = Accounts(registry_app, client).user(role="admin")
    card_says(root, "base", precision=0.78)
    card_says(root, "cand", precision=0.70)

    listed = {m["version"]: m for m in client.get("/api/v1/admin/models",
                                                  headers=admin).get_json()["items"]}
    assert list(listed["cand"]["regressions"]) == ["precision"]
    assert "0.78 → 0.70" in listed["cand"]["regressions"]["precision"]
    body = assert_problem(client.post("/api/v1/admin/models/cand/activate", headers=admin),
                          409, "override")
    assert body["errors"]["override"] == ["precision"]
    assert client.post("/api/v1/admin/models/cand/activate", headers=admin,
                       json={"override": ["precision"]}).status_code == 200


def test_two_steps_each_under_the_gate_cannot_add_up_to_a_loss_it_refuses(registry_app, root):
    """Issue #75, item 6: two candidates that each lost 0.08 of a label's F1 beside the
    active model both activated, 0.86 → 0.70 in two steps. The second is now compared with
    the versions served before as well."""
    client = registry_app.test_client()
    _, admin = Accounts(registry_app, client).user(role="admin")
    card_says(root, "base", label="security", f1=0.86)
    card_says(root, "step1", label="security", f1=0.78)
    card_says(root, "step2", label="security", f1=0.70)

    assert client.post("/api/v1/admin/models/step1/activate", headers=admin).status_code == 200
    body = assert_problem(client.post("/api/v1/admin/models/step2/activate", headers=admin),
                          409, "override")
    assert body["errors"]["override"] == ["security"]
    assert "0.86 → 0.70" in body["detail"] and "beside base, served before" in body["detail"]
    listed = {m["version"]: m for m in client.get("/api/v1/admin/models",
                                                  headers=admin).get_json()["items"]}
    assert list(listed["step2"]["regressions"]) == ["security"]


def test_a_rollback_to_a_version_that_lost_ground_needs_the_override_too(registry_app, root):
    """Issue #75, item 6: rollback skipped the gate. Rolling back from a better model to one
    that lost a label beside it is refused until the admin names the loss, in the API and
    on the console's confirmation, which shows the figures side by side."""
    app, client = registry_app, registry_app.test_client()
    accounts = Accounts(app, client)
    admin_user, admin = accounts.user(role="admin")
    card_says(root, "base", label="legal", f1=0.40, precision=0.78)
    card_says(root, "better", label="legal", f1=0.90, precision=0.80)
    assert client.post("/api/v1/admin/models/better/activate", headers=admin).status_code == 200

    body = assert_problem(client.post("/api/v1/admin/models/rollback", headers=admin), 409,
                          "override")
    assert body["errors"]["override"] == ["legal"]
    page = browse(app, admin_user["email"]).get("/app/admin/models/rollback").get_data(
        as_text=True)
    assert 'name="override" value="legal"' in page
    assert "0.80" in page and "0.78" in page  # precision, serving beside the target
    done = client.post("/api/v1/admin/models/rollback", headers=admin,
                       json={"override": ["legal"]})
    assert done.status_code == 200 and done.get_json()["active_version"] == "base"
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "model_rolled_back")).one()
        assert event.details["override"] == ["legal"]
