"""Each user's defaults for scans (GET/PATCH /api/v1/auth/me/settings, service/users/
settings_routes.py): judged like a scan request's fields, applied where a scan or a job leaves a
field out (service/scans/defaults.py), the caller's own, and a default project that never
outlives the right to scan into it. On SQLite and MariaDB."""

from __future__ import annotations

import io
import threading
import uuid

import pytest
from sqlalchemy import func, select

from service.db import Job, UserSettings
from service.extensions import db
from testkit.llm_server import FakeLLMServer
from tests.helpers import (
    RACE_TIMEOUT_S,
    Accounts,
    Sent,
    assert_problem,
    at_once,
    audit_rows,
    row_is_held,
)
from tests.jobs import Inert, accepted, post_job
from tests.projects import make_project, register_of

SETTINGS = "/api/v1/auth/me/settings"
NONE_SAVED = {"force_llm": False, "min_score": None, "project_id": None,
              "mail_risk_owner": True, "mail_risk_due": True, "mail_risk_reopened": True,
              "mail_digest": False}
VENDOR = "The vendor may slip the delivery."


def settings_of(client, headers) -> dict:
    response = client.get(SETTINGS, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def save(client, headers, **fields) -> dict:
    response = client.patch(SETTINGS, json=fields, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()




def rows(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(UserSettings))


def scan(client, headers, **fields) -> dict:
    response = client.post("/api/v1/scans", json={"text": VENDOR, **fields}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def file_scan(client, headers, **form) -> dict:
    response = client.post("/api/v1/scans", headers=headers, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(VENDOR.encode()), "a.txt"), **form})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def key(client, headers, *scopes) -> dict:
    created = client.post("/api/v1/auth/api-keys", headers=headers,
                          json={"name": "script", "scopes": list(scopes)})
    assert created.status_code == 201, created.get_json()
    return {"Authorization": f"Bearer {created.get_json()['key']}"}


# --- reading and changing them -------------------------------------------------------------

def test_none_until_saved_and_a_patch_changes_only_what_it_sends(app, client, accounts):
    user, headers = accounts.user()
    assert settings_of(client, headers) == NONE_SAVED
    assert rows(app) == 0  # reading saves nothing
    assert save(client, headers, min_score=0.5) == {**NONE_SAVED, "min_score": 0.5}
    assert save(client, headers, force_llm=True) == {**NONE_SAVED, "min_score": 0.5,
                                                     "force_llm": True}
    assert save(client, headers, min_score=None) == {**NONE_SAVED, "force_llm": True}
    assert save(client, headers, min_score=0, force_llm=False) == {**NONE_SAVED,
                                                                   "min_score": 0.0}
    assert save(client, headers) == {**NONE_SAVED, "min_score": 0.0}  # {}: nothing changes
    assert settings_of(client, headers) == {**NONE_SAVED, "min_score": 0.0}
    audited = audit_rows(app, "settings_updated")
    assert [e.details for e in audited] == [{"min_score": 0.5}, {"force_llm": True},
                                            {"min_score": None},
                                            {"min_score": 0.0, "force_llm": False}, None]
    assert {(e.actor_id, e.target_id) for e in audited} == {(user["id"], user["id"])}


def scan_refusal(client, headers, body: dict):
    return client.post("/api/v1/scans", json={"text": VENDOR, **body}, headers=headers)


@pytest.mark.parametrize("body, field", [
    ({"min_score": 1.01}, "min_score"), ({"min_score": -0.01}, "min_score"),
    ({"min_score": "0.5"}, "min_score"), ({"min_score": True}, "min_score"),
    ({"min_score": [0.5]}, "min_score"), ({"min_score": 1e309}, "min_score"),
    ({"force_llm": None}, "force_llm"), ({"force_llm": "true"}, "force_llm"),
    ({"force_llm": 1}, "force_llm"),
    ({"project_id": "x" * 37}, "project_id"), ({"project_id": 5}, "project_id"),
])
def test_a_bad_value_is_the_422_a_scan_answers_and_changes_nothing(app, client, accounts,
                                                                     body, field):
    _, headers = accounts.user()
    save(client, headers, min_score=0.25)
    refused = assert_problem(client.patch(SETTINGS, json=body, headers=headers), 422, field)
    assert refused["detail"] == "The request has invalid or missing fields."
    # A scan's field of the same name is refused in the same words.
    same = assert_problem(scan_refusal(client, headers, body), 422, field)
    assert refused["errors"][field] == same["errors"][field]
    assert settings_of(client, headers) == {**NONE_SAVED, "min_score": 0.25}
    assert len(audit_rows(app, "settings_updated")) == 1


def test_nan_an_unknown_field_and_bad_bodies_are_refused_and_change_nothing(app, client,
                                                                           accounts):
    _, headers = accounts.user()
    nan = client.patch(SETTINGS, data='{"min_score": NaN}', headers=headers,
                       content_type="application/json")
    assert assert_problem(nan, 422, "min_score")["errors"]["min_score"] == [
        "Special numeric values (nan or infinity) are not permitted."]
    assert_problem(client.patch(SETTINGS, json={"theme": "dark"}, headers=headers), 422,
                   "theme")
    assert_problem(client.patch(SETTINGS, data='{"min_score": 0.5', headers=headers,
                                content_type="application/json"), 400)
    assert_problem(client.patch(SETTINGS, data="min_score=0.5", headers=headers,
                                content_type="application/x-www-form-urlencoded"), 415)
    assert_problem(client.patch(SETTINGS, json={"project_id": "p" * 2_000_000},
                                headers=headers), 413)
    assert_problem(client.patch(SETTINGS, data="[" * 100 + "]" * 100, headers=headers,
                                content_type="application/json"), 400)
    assert settings_of(client, headers) == NONE_SAVED
    assert rows(app) == 0 and audit_rows(app, "settings_updated") == []


def test_without_a_token_both_are_401(client):
    assert_problem(client.get(SETTINGS), 401)
    assert_problem(client.patch(SETTINGS, json={"min_score": 0.5}), 401)


def test_settings_are_the_callers_own(app, client, accounts):
    """No id in the path: each caller reads and changes only their own, admins too."""
    a, a_h = accounts.user()
    _, b_h = accounts.user()
    _, admin_h = accounts.user(role="admin")
    save(client, a_h, min_score=0.75, force_llm=True)
    assert settings_of(client, b_h) == NONE_SAVED
    assert settings_of(client, admin_h) == NONE_SAVED
    save(client, b_h, min_score=0.1)
    assert settings_of(client, a_h) == {**NONE_SAVED, "min_score": 0.75, "force_llm": True}
    for path in (f"{SETTINGS}/{a['id']}", f"/api/v1/users/{a['id']}/settings"):
        assert_problem(client.get(path, headers=admin_h), 404)


def test_concurrent_first_saves_of_one_user_make_one_row(app, client, accounts):
    """A user's first save creates the row: the user's row lock makes the saves take
    turns, so that none fails on the second insert of one key."""
    _, headers = accounts.user()
    answers = at_once(app, "PATCH", SETTINGS, parallel=4, headers=headers,
                      json={"min_score": 0.5})
    assert [a.status_code for a in answers] == [200] * 4, [a.get_json() for a in answers]
    assert rows(app) == 1 and len(audit_rows(app, "settings_updated")) == 4


def test_deleting_the_account_deletes_its_settings(app, client, accounts):
    user, headers = accounts.user()
    _, admin_h = accounts.user(role="admin")
    save(client, headers, min_score=0.5)
    assert client.delete(f"/api/v1/users/{user['id']}", headers=admin_h).status_code == 204
    assert rows(app) == 0


# --- API keys ---------------------------------------------------------------------------

def test_a_key_reads_them_with_account_read_and_never_changes_them(app, client, accounts):
    """Reading is reading one's account (account:read); changing them takes the user's own
    session: a leaked key must not send its user's future scans into another project."""
    _, headers = accounts.user()
    save(client, headers, min_score=0.5)
    reader = key(client, headers, "account:read")
    assert client.get(SETTINGS, headers=reader).get_json()["min_score"] == 0.5
    body = assert_problem(client.get(SETTINGS, headers=key(client, headers, "scans:write")),
                          403)
    assert body["detail"] == "This API key lacks the scope account:read."
    every = key(client, headers, "account:read", "scans:read", "scans:write", "projects:read",
                "projects:write")
    for headers_ in (reader, every):
        refused = assert_problem(client.patch(SETTINGS, json={"min_score": 0.9},
                                              headers=headers_), 403)
        assert refused["detail"] == ("API keys cannot be used here: sign in and use an "
                                     "access token.")
    assert settings_of(client, headers)["min_score"] == 0.5
    assert len(audit_rows(app, "settings_updated")) == 1


# --- the default project -------------------------------------------------------------------

def test_the_default_project_is_one_you_may_scan_into(team, client):
    other = make_project(client, team.outsider_h, name="Elsewhere")
    assert save(client, team.editor_h, project_id=team.id)["project_id"] == team.id
    assert save(client, team.owner_h, project_id=team.id)["project_id"] == team.id
    viewer = assert_problem(client.patch(SETTINGS, json={"project_id": team.id},
                                         headers=team.viewer_h), 403)
    assert viewer["detail"].startswith("Your role in this project is viewer")
    # Another's project, a missing one, a malformed one: the 404 of a missing project.
    answers = [client.patch(SETTINGS, json={"project_id": project_id}, headers=team.viewer_h)
               for project_id in (other["id"], str(uuid.uuid4()), "p' OR 1=1",
                                  team.id.upper())]
    bodies = [assert_problem(answer, 404) for answer in answers]
    assert {body["detail"] for body in bodies} == {"No such project."}
    admin = assert_problem(client.patch(SETTINGS, json={"project_id": team.id},
                                        headers=team.admin_h), 403)
    assert admin["detail"] == "Admins read every project; only its members change it."
    for headers in (team.viewer_h, team.admin_h):
        assert settings_of(client, headers) == NONE_SAVED
    assert save(client, team.editor_h, project_id=None)["project_id"] is None


def test_a_scan_or_job_that_leaves_project_id_out_goes_into_the_default_project(team, client):
    save(client, team.editor_h, project_id=team.id)
    into = scan(client, team.editor_h)
    assert into["project_id"] == team.id
    assert [r["risk"] for r in register_of(client, team.owner_h, team.id)] == [VENDOR]
    assert file_scan(client, team.editor_h)["project_id"] == team.id
    # Said otherwise: null or an empty form field is no project, another id that project.
    assert scan(client, team.editor_h, project_id=None)["project_id"] is None
    assert file_scan(client, team.editor_h, project_id="")["project_id"] is None
    mine = make_project(client, team.editor_h, name="Mine")["id"]
    assert scan(client, team.editor_h, project_id=mine)["project_id"] == mine
    assert file_scan(client, team.editor_h, project_id=mine)["project_id"] == mine


def test_a_key_without_projects_write_scans_outside_the_default_project(team, client):
    """A key's scopes are its reach: the default does not widen a scans:write key's."""
    save(client, team.editor_h, project_id=team.id)
    scans_only = key(client, team.editor_h, "scans:write")
    assert scan(client, scans_only)["project_id"] is None
    both = key(client, team.editor_h, "scans:write", "projects:write")
    assert scan(client, both)["project_id"] == team.id


@pytest.mark.parametrize("how", ["made viewer", "removed", "leaves", "project deleted"])
def test_losing_the_right_to_scan_into_it_clears_the_default_project(team, client, how):
    """Decided: the default goes, rather than scans failing or landing silently elsewhere
    later; GET says so. Regaining the role does not bring it back."""
    save(client, team.editor_h, project_id=team.id, min_score=0.5)
    save(client, team.owner_h, project_id=team.id)
    path = f"/api/v1/projects/{team.id}/members/{team.editor['id']}"
    if how == "made viewer":
        response = client.patch(path, json={"role": "viewer"}, headers=team.owner_h)
    elif how == "removed":
        response = client.delete(path, headers=team.owner_h)
    elif how == "leaves":
        response = client.delete(path, headers=team.editor_h)
    else:
        response = client.delete(f"/api/v1/projects/{team.id}", headers=team.owner_h)
    assert response.status_code == (200 if how == "made viewer" else 204), response.get_json()
    assert settings_of(client, team.editor_h) == {**NONE_SAVED, "min_score": 0.5}
    assert scan(client, team.editor_h)["project_id"] is None  # a scan of their own
    if how == "made viewer":
        client.patch(path, json={"role": "editor"}, headers=team.owner_h)
        assert settings_of(client, team.editor_h)["project_id"] is None
    if how != "project deleted":  # the owner's own default is untouched
        assert settings_of(client, team.owner_h)["project_id"] == team.id


def test_a_promotion_keeps_the_default_project(team, client):
    save(client, team.editor_h, project_id=team.id)
    path = f"/api/v1/projects/{team.id}/members/{team.editor['id']}"
    assert client.patch(path, json={"role": "owner"}, headers=team.owner_h).status_code == 200
    assert settings_of(client, team.editor_h)["project_id"] == team.id


@pytest.mark.parametrize("first", ["save", "removal"])
def test_a_removal_racing_a_save_never_leaves_a_project_one_cannot_scan_into(
        keyword_app, client, monkeypatch, first):
    """The save holds the membership it checked until it commits. Save first: it is held
    (an event) right after its check while the removal is sent; the removal runs to its
    end before the save goes on unless the save holds what the removal must write (then
    it could only wait), so a save that held nothing stores a project its user may no
    longer scan into. Removal first: the save is a 404. Either way no default is left."""
    import service.users.settings_routes as user_settings
    from service.db import ProjectMember

    accounts = Accounts(keyword_app, client)
    _, owner_h = accounts.user()
    editor, editor_h = accounts.user()
    project = make_project(client, owner_h, name="Race")["id"]
    client.post(f"/api/v1/projects/{project}/members", headers=owner_h,
                json={"email": editor["email"], "role": "editor"})
    removal = ("DELETE", f"/api/v1/projects/{project}/members/{editor['id']}", owner_h)
    if first == "removal":
        assert client.open(removal[1], method="DELETE", headers=owner_h).status_code == 204
        assert assert_problem(client.patch(SETTINGS, json={"project_id": project},
                                           headers=editor_h), 404)["detail"] == (
            "No such project.")
        assert settings_of(client, editor_h)["project_id"] is None
        return

    checked, go = threading.Event(), threading.Event()
    check = user_settings.project_id_for

    def held_after_the_check(*args, **kwargs):
        project_id = check(*args, **kwargs)
        checked.set()
        assert go.wait(RACE_TIMEOUT_S), "the test never let the save go on"
        return project_id

    monkeypatch.setattr(user_settings, "project_id_for", held_after_the_check)
    save = Sent(keyword_app, "PATCH", SETTINGS, editor_h, {"project_id": project})
    assert checked.wait(RACE_TIMEOUT_S), "the save never reached its check"
    waits = row_is_held(keyword_app, ProjectMember, project_id=project, user_id=editor["id"])
    removed = Sent(keyword_app, *removal)
    if not waits:  # nothing it must write is held: it runs to its end first
        assert removed.answer().status_code == 204
    go.set()
    assert save.answer().status_code == 200, save.answer().get_json()
    assert removed.answer().status_code == 204
    assert settings_of(client, editor_h)["project_id"] is None


# --- min_score and force_llm, on the real model and a loopback LLM -------------------------

REPORT = ("Our only supplier of the sensor chips is in financial trouble and may stop "
          "deliveries. UAT may slip two weeks if the test environment is not ready. The "
          "team had lunch together on Friday. Admin passwords are shared over chat.")


def spans(scan_: dict) -> set[tuple[int, int]]:
    return {(f["start"], f["end"]) for f in scan_["data"]}


def test_the_default_min_score_applies_when_left_out_and_gives_way_when_sent(scan_app):
    client = scan_app.test_client()
    _, headers = Accounts(scan_app, client).user()
    everything = spans(scan(client, headers, text=REPORT, min_score=0.0))
    strict = spans(scan(client, headers, text=REPORT, min_score=0.95))
    operating = spans(scan(client, headers, text=REPORT, min_score=None))
    # The three tell apart: a strict default hides findings that the operating point (an
    # explicit null) shows, so a null taken for "left out" would show the user fewer.
    assert strict < operating <= everything, (strict, operating, everything)

    save(client, headers, min_score=0.95)
    assert spans(scan(client, headers, text=REPORT)) == strict
    form = client.post("/api/v1/scans", headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(REPORT.encode()), "r.txt")})
    assert spans(form.get_json()) == strict
    assert spans(scan(client, headers, text=REPORT, min_score=0.0)) == everything
    assert spans(scan(client, headers, text=REPORT, min_score=None)) == operating
    blank = client.post("/api/v1/scans", headers=headers, content_type="multipart/form-data",
                        data={"file": (io.BytesIO(REPORT.encode()), "r.txt"), "min_score": ""})
    assert spans(blank.get_json()) == operating


LLM_RISKS = {VENDOR: "vendor"}


@pytest.fixture
def llm():
    with FakeLLMServer(risks=LLM_RISKS) as server:
        yield server


def test_the_default_force_llm_sends_scans_to_the_llm_unless_they_say_false(make_app, llm):
    from tests.scanning import KeywordAnalyzer

    app = make_app(LLM_BASE_URL=llm.base_url, LLM_MODEL="test-llm")
    app.extensions["riskscan.analyzers"].model = KeywordAnalyzer()
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    assert scan(client, headers)["source"] == "model"
    save(client, headers, force_llm=True)
    assert scan(client, headers)["source"] == "llm"
    assert file_scan(client, headers)["source"] == "llm"
    assert len(llm.requests) == 2
    assert scan(client, headers, force_llm=False)["source"] == "model"
    assert file_scan(client, headers, force_llm="false")["source"] == "model"
    assert file_scan(client, headers, force_llm="")["source"] == "model"
    assert len(llm.requests) == 2


def test_without_an_llm_the_default_force_llm_leaves_scans_to_the_model(keyword_app, client):
    """"Where one is configured": the setting never turns scans into 503s; a request's own
    force_llm still does, saying why."""
    _, headers = Accounts(keyword_app, client).user()
    save(client, headers, force_llm=True)
    assert scan(client, headers)["source"] == "model"
    assert file_scan(client, headers)["source"] == "model"
    assert_problem(client.post("/api/v1/scans", json={"text": VENDOR, "force_llm": True},
                               headers=headers), 503)


# --- jobs ----------------------------------------------------------------------------------

def job_row(app, job_id) -> Job:
    with app.app_context():
        job = db.session.get(Job, job_id)
        db.session.expunge_all()
        return job


def test_a_job_takes_the_default_project_and_force_llm_unless_its_form_says(make_app, llm):
    app = make_app(LLM_BASE_URL=llm.base_url, LLM_MODEL="test-llm")
    app.extensions["riskscan.jobs"] = Inert()
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    project = make_project(client, headers)["id"]
    save(client, headers, project_id=project, force_llm=True)
    files = [("a.txt", VENDOR.encode())]
    defaulted = job_row(app, accepted(post_job(client, headers, files), total=1))
    assert (defaulted.project_id, defaulted.force_llm) == (project, True)
    said = job_row(app, accepted(post_job(client, headers, files, project_id="",
                                          force_llm="false"), total=1))
    assert (said.project_id, said.force_llm) == (None, False)
    scans_only = key(client, headers, "scans:write")
    keyed = job_row(app, accepted(post_job(client, scans_only, files), total=1))
    assert (keyed.project_id, keyed.force_llm) == (None, True)


# --- the console's account page ------------------------------------------------------------

def test_the_account_page_saves_defaults_and_says_what_the_api_refuses(team, client):
    from tests.console_browser import REFUSED_FORM, csrf_of, html, sign_in

    other = make_project(client, team.owner_h, name="Viewed only")["id"]
    client.post(f"/api/v1/projects/{other}/members", headers=team.owner_h,
                json={"email": team.editor["email"], "role": "viewer"})
    browser = team.client.application.test_client()
    assert sign_in(browser, team.editor["email"]).status_code == 302
    page = html(browser.get("/app/account"))
    assert '<label for="default-project">Project</label>' in page
    assert f'<option value="{team.id}" >Billing migration</option>' in page
    assert other not in page  # a project they only view is no choice
    token = csrf_of(browser, "/app/account")

    assert page.count('type="checkbox" name="mail_risk_') == 3
    assert 'name="mail_digest" value="on" >' in page  # the digest: asked for, never assumed
    assert "This service sends no mail: no SMTP relay is set" in page  # the test app's
    assert page.count('value="on" checked> ') == 3  # every kind of mail on until unticked
    saved = browser.post("/app/account", data={"csrf_token": token, "project_id": team.id,
                                               "min_score": "0.6", "force_llm": "on",
                                               "mail_risk_owner": "on", "mail_risk_due": "on"})
    assert saved.status_code == 302 and saved.headers["Location"] == "/app/account"
    assert "Settings saved." in html(browser.get("/app/account"))
    expected = {"project_id": team.id, "min_score": 0.6, "force_llm": True,
                "mail_risk_owner": True, "mail_risk_due": True, "mail_risk_reopened": False,
                "mail_digest": False}
    assert settings_of(client, team.editor_h) == expected
    page = html(browser.get("/app/account"))
    assert 'name="mail_risk_reopened" value="on" >' in page  # unticked: stays off
    assert f'<option value="{team.id}" selected>' in page and 'value="0.6"' in page

    for form, field, words in (
            ({"min_score": "1.5"}, "default-min-score-error", "Must be greater than or equal"),
            ({"min_score": "nan"}, "default-min-score-error", "Special numeric values"),
            ({"min_score": "high"}, "default-min-score-error", "Not a valid number."),
            ({"project_id": "x" * 40}, "default-project-error", "Longer than maximum length 36.")):
        refused = browser.post("/app/account", data={"csrf_token": token, **form})
        assert refused.status_code == 422
        text = html(refused)
        assert f'<p class="field-error" id="{field}">{words}' in text
        assert 'aria-invalid="true"' in text
    other_project = browser.post("/app/account", data={"csrf_token": token,
                                                       "project_id": other})
    assert other_project.status_code == 403
    assert "Your role in this project is viewer" in html(other_project)
    forged = browser.post("/app/account", data={"project_id": "", "min_score": ""})
    assert forged.status_code == 400 and f"<p>{REFUSED_FORM}</p>" in html(forged)
    assert settings_of(client, team.editor_h) == expected  # nothing refused was saved

    cleared = browser.post("/app/account", data={"csrf_token": token, "project_id": "",
                                                 "min_score": ""})
    assert cleared.status_code == 302
    assert settings_of(client, team.editor_h) == NONE_SAVED | {  # an unticked box is false
        "mail_risk_owner": False, "mail_risk_due": False, "mail_risk_reopened": False}


def test_the_scan_page_starts_at_the_default_project_and_no_project_means_none(team, client):
    from tests.console_browser import csrf_of, html, sign_in

    save(client, team.editor_h, project_id=team.id, min_score=0.5)
    browser = team.client.application.test_client()
    assert sign_in(browser, team.editor["email"]).status_code == 302
    page = html(browser.get("/app/scan"))
    assert f'<option value="{team.id}" selected>Billing migration</option>' in page
    assert "Empty: your default, 0.5" in page
    token = csrf_of(browser, "/app/scan")
    chosen_none = browser.post("/app/scan", data={"csrf_token": token, "text": VENDOR,
                                                  "project_id": ""})
    assert chosen_none.status_code == 303
    as_file = browser.post("/app/scan", content_type="multipart/form-data", data={
        "csrf_token": token, "project_id": "", "file": (io.BytesIO(VENDOR.encode()), "a.txt")})
    assert as_file.status_code == 303
    into = browser.post("/app/scan", data={"csrf_token": token, "text": VENDOR,
                                           "project_id": team.id})
    assert into.status_code == 303
    listed = client.get("/api/v1/scans", headers=team.editor_h).get_json()["items"]
    assert [s["project_id"] for s in listed] == [team.id, None, None]
