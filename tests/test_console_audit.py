"""The console's audit page (/app/admin/audit) as an admin reads it: people by email (a
deleted one said so), what an event is about linked to its page, the details in words, and
filters by event, person (email) and day that narrow the list; anyone else is refused, and
a malformed filter is the form's error, never a 500."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from service.db import AuditEvent
from service.extensions import db
from tests.console_browser import html, sign_in

AUDIT = "/app/admin/audit"
ROW = re.compile(r"<tr>\s*<td><time.*?</tr>", re.DOTALL)


@pytest.fixture
def admin(app, accounts):
    """A signed-in admin's browser, the admin, and their API headers."""
    user, headers = accounts.user(role="admin")
    browser = app.test_client()
    assert sign_in(browser, user["email"]).status_code == 302
    return browser, user, headers


def rows(page: str) -> list[str]:
    return ROW.findall(page)


def test_people_are_named_by_email_never_by_id(client, accounts, admin):
    browser, me, headers = admin
    user, _ = accounts.user()  # registers and logs in
    assert client.patch(f"/api/v1/users/{user['id']}", headers=headers,
                        json={"role": "admin"}).status_code == 200

    page = html(browser.get(AUDIT))

    assert user["id"] not in page and me["id"] not in page
    [login] = [row for row in rows(page) if "login success" in row and user["email"] in row]
    assert login.count(f">{user['email']}</a>") == 2  # by and about
    [change] = [row for row in rows(page) if "role change" in row]
    assert me["email"] in change and user["email"] in change
    assert "Role changed from user to admin." in change
    assert "{" not in change  # no raw JSON


def test_a_deleted_user_is_said_to_be_one(client, accounts, admin):
    browser, me, headers = admin
    user, _ = accounts.user()
    assert client.delete(f"/api/v1/users/{user['id']}", headers=headers).status_code == 204

    page = html(browser.get(AUDIT))

    [registered] = [row for row in rows(page) if ">register<" in row
                    and me["email"] not in row]
    assert registered.count("deleted user") == 2 and user["id"] not in registered
    [deleted] = [row for row in rows(page) if "user deleted" in row]
    assert f"Deleted {user['email']}" in deleted and me["email"] in deleted


def test_objects_are_linked_to_their_pages_and_odd_details_listed(client, accounts, admin):
    browser, _, headers = admin
    project = client.post("/api/v1/projects", headers=headers, json={"name": "Bridge"})
    project_id = project.get_json()["id"]
    assert client.patch("/api/v1/auth/me/settings", headers=headers,
                        json={"force_llm": True}).status_code == 200

    page = html(browser.get(AUDIT))

    [created] = [row for row in rows(page) if "project created" in row]
    assert f'href="/app/projects/{project_id}"' in created
    [settings] = [row for row in rows(page) if "settings updated" in row]
    assert "<dt>force llm</dt><dd>true</dd>" in settings  # no sentence: key and value


def test_filters_by_email_event_and_day_narrow_the_list(app, accounts, admin):
    browser, _, _ = admin
    user, _ = accounts.user()
    other, _ = accounts.user()
    with app.app_context():  # the user's events happened on the first of March
        for event in db.session.query(AuditEvent).filter_by(target_id=user["id"]):
            event.created_at = datetime(2026, 3, 1, 12, tzinfo=UTC)
        db.session.commit()

    everything = rows(html(browser.get(AUDIT)))
    theirs = rows(html(browser.get(AUDIT, query_string={"email": user["email"].upper()})))
    logins = rows(html(browser.get(AUDIT, query_string={"email": user["email"],
                                                        "event": "login_success"})))
    that_day = rows(html(browser.get(AUDIT, query_string={"created_after": "2026-03-01",
                                                          "created_before": "2026-03-01"})))
    before = html(browser.get(AUDIT, query_string={"created_before": "2026-02-28"}))

    assert len(everything) == 7  # three registrations, three API logins, this sign-in
    assert len(theirs) == 2 and all(user["email"] in row for row in theirs)
    assert len(logins) == 1 and "login success" in logins[0]
    assert len(that_day) == 2 and not any(other["email"] in row for row in that_day)
    assert "No event matches." in before
    filtered = html(browser.get(AUDIT, query_string={"email": user["email"],
                                                     "created_after": "2026-03-01"}))
    assert f'value="{user["email"]}"' in filtered and 'value="2026-03-01"' in filtered


@pytest.mark.parametrize(("query", "said"), [
    ({"created_after": "2026-02-30"}, "From: Not a valid datetime."),
    ({"created_before": "not a day"}, "Until: Not a valid datetime."),
    ({"created_before": "9999-12-31"}, "Until: Must be a day before 9999-12-31."),
    ({"event": "<i>coffee</i>"}, "Event: Must be one of"),
    ({"email": "a" * 5000 + "@example.com"}, "Email: Longer than maximum length 254."),
], ids=["no-such-day", "not-a-date", "the-last-day", "unknown-event", "long-email"])
def test_a_malformed_filter_is_the_forms_error(admin, query, said):
    browser, _, _ = admin

    response = browser.get(AUDIT, query_string=query)

    assert response.status_code == 422
    page = html(response)
    assert '<p class="form-error" role="alert">' in page and "<i>coffee" not in page
    assert said in page
    assert '<form method="get" class="filters"' in page


def test_a_user_is_refused_and_a_stranger_sent_to_sign_in(app, accounts):
    user, _ = accounts.user()
    browser = app.test_client()
    assert sign_in(browser, user["email"]).status_code == 302

    refused = browser.get(AUDIT, query_string={"email": user["email"]})

    assert refused.status_code == 403 and user["email"] not in html(refused).split("<main")[1]
    stranger = app.test_client().get(AUDIT)
    assert stranger.status_code == 302
    assert stranger.headers["Location"].startswith("/app/sign-in")


def test_events_recorded_elsewhere_read_as_sentences_with_their_links(app, admin):
    """Rows as the scans, register and model code record them (their tests check that)."""
    browser, me, _ = admin
    project, scan = "5b0c8e0e-8d1e-4a43-9a57-0c2f1f6f4b11", "9f4d7a0e-1c55-4c4e-8f0e-3f1a2b3c4d5e"
    with app.app_context():
        db.session.add_all([
            AuditEvent(event="scan_moved", actor_id=me["id"], target_id=scan,
                       details={"from": None, "to": project}),
            AuditEvent(event="risk_rated", actor_id=me["id"], target_id="12",
                       details={"project_id": project, "changes": {
                           "likelihood": {"from": None, "to": 4},
                           "impact": {"from": 2, "to": 5}}}),
            AuditEvent(event="model_activated", actor_id=me["id"],
                       details={"from": "v1", "to": "v2", "generation": 3}),
            AuditEvent(event="session_ended", actor_id=me["id"], target_id=me["id"],
                       details={"sessions": 2, "kept": "current"}),
            AuditEvent(event="risk_merged", actor_id=me["id"], target_id="7",
                       details={"project_id": project, "merged": "not a list"}),
        ])
        db.session.commit()

    page = html(browser.get(AUDIT))
    by_event = {re.search(r'<th scope="row">([^<]+)</th>', row).group(1): row
                for row in rows(page)}

    assert f'href="/app/scans/{scan}"' in by_event["scan moved"]
    rated = by_event["risk rated"]
    assert "Rated a register entry: likelihood none → 4; impact 2 → 5." in rated
    assert f'href="/app/projects/{project}/risks/12"' in rated
    assert "Activated model v2 (was v1)." in by_event["model activated"]
    assert "Ended 2 other sessions." in by_event["session ended"]
    merged = by_event["risk merged"]  # details of another shape: listed, not a 500
    assert "<dt>merged</dt><dd>not a list</dd>" in merged


def test_every_sentence_is_of_a_known_event():
    from service.audit import EVENTS
    from service.console.audit_views import SENTENCES

    assert set(SENTENCES) <= set(EVENTS)


def test_the_users_page_links_each_users_events_by_email(accounts, admin):
    browser, _, _ = admin
    user, _ = accounts.user()

    users = html(browser.get("/app/admin/users"))

    link = re.search(r'<a class="small" href="([^"]+)">Audit log<span class="visually-hidden">'
                     rf' of {re.escape(user["email"])}</span>', users).group(1)
    assert user["id"] not in link
    events = html(browser.get(link.replace("&amp;", "&")))
    assert len(rows(events)) == 2 and f'value="{user["email"]}"' in events


def test_links_say_the_projects_name_and_the_entrys_wording_or_their_ids_once_gone(
        keyword_app, client, accounts, admin):
    """A project's link says its name as it is today (renamed, a hostile one as text), an
    entry's link its wording, shortened; a deleted project and an entry that is no more
    are said by their ids. The API's page of events carries both names for the console."""
    browser, me, headers = admin
    wording = ("The vendor may slip the delivery because the supplier lost the contract "
               "for the steel beams.")
    project_id = client.post("/api/v1/projects", headers=headers,
                             json={"name": "Bridge"}).get_json()["id"]
    scan = client.post("/api/v1/scans", headers=headers,
                       json={"text": wording, "project_id": project_id}).get_json()
    entry = scan["data"][0]["risk_id"]
    assert client.patch(f"/api/v1/projects/{project_id}/risks/{entry}", headers=headers,
                        json={"status": "mitigating"}).status_code == 200
    renamed = "Bridge & tunnel <b>2027</b>"
    assert client.patch(f"/api/v1/projects/{project_id}", headers=headers,
                        json={"name": renamed}).status_code == 200
    gone = client.post("/api/v1/projects", headers=headers, json={"name": "Gone"}).get_json()
    assert client.delete(f"/api/v1/projects/{gone['id']}", headers=headers).status_code == 204
    with keyword_app.app_context():
        db.session.add(AuditEvent(event="risk_rated", actor_id=me["id"], target_id="999999",
                                  details={"project_id": project_id, "changes": {}}))
        db.session.commit()

    page = html(browser.get(AUDIT))
    by_event = {}
    for row in rows(page):
        by_event.setdefault(re.search(r'<th scope="row">([^<]+)</th>', row)[1], []).append(row)
    links = {event: [re.findall(r'<a href="(/app/projects/[^"]+)">([^<]+)</a>', row)
                     for row in found] for event, found in by_event.items()}
    shown = f"Project {renamed}".replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert links["project created"] == [[(f"/app/projects/{gone['id']}",
                                          f"Project {gone['id']}")],
                                        [(f"/app/projects/{project_id}", shown)]]
    assert links["project updated"] == [[(f"/app/projects/{project_id}", shown)]]
    short = "“The vendor may slip the delivery because the supplier lost…”"
    assert links["risk updated"] == [[(f"/app/projects/{project_id}/risks/{entry}", short)]]
    assert links["risk rated"] == [[(f"/app/projects/{project_id}/risks/999999",
                                     "Entry #999999")]]
    assert "The project<" not in page and "<b>2027" not in page

    events = client.get("/api/v1/admin/audit-events", headers=headers,
                        query_string={"per_page": 100}).get_json()["items"]
    named = {(e["event"], e["target_id"]): (e["project_name"], e["risk"]) for e in events}
    assert named[("project_created", project_id)] == (renamed, None)
    assert named[("project_created", gone["id"])] == (None, None)
    assert named[("risk_updated", str(entry))] == (renamed, wording)
    assert named[("risk_rated", "999999")] == (renamed, None)
    assert named[("login_success", me["id"])] == (None, None)


def test_sentences_agree_with_their_numbers_and_say_what_a_switch_did(app, admin, client):
    """Issue #74: "Rejected 1 corrections." and "Changed a webhook's active."."""
    browser, me, _ = admin
    with app.app_context():
        db.session.add_all([
            AuditEvent(event="corrections_reviewed", actor_id=me["id"],
                       details={"decision": "rejected", "changed": 1}),
            AuditEvent(event="session_ended", actor_id=me["id"], target_id=me["id"],
                       details={"sessions": 1, "kept": "current"}),
            AuditEvent(event="webhook_updated", actor_id=me["id"], target_id="1",
                       details={"fields": ["active"], "active": False}),
            AuditEvent(event="webhook_updated", actor_id=me["id"], target_id="2",
                       details={"fields": ["active", "url"], "active": True}),
        ])
        db.session.commit()

    page = html(browser.get(AUDIT))
    assert "Rejected 1 correction." in page and "Ended 1 other session." in page
    assert "Turned a webhook off." in page
    assert "Turned a webhook on and changed its url." in page
    assert "corrections." not in page and "webhook's active" not in page


@pytest.mark.parametrize(("event", "details", "said"), [
    ("risk_merged", {"merged": [7]}, "Merged 1 other register entry into this one."),
    ("risk_merged", {"merged": [7, 8]}, "Merged 2 other register entries into this one."),
    ("risk_split", {"findings": [3], "split_from": 9}, "Split 1 finding out of entry #9."),
    ("risk_split", {"findings": [3, 4], "split_from": 9}, "Split 2 findings out of entry #9."),
    ("dismissal_deleted", {"risk": "Lunch.", "restored": 1},
     "Lifted the dismissal of “Lunch.”: 1 finding it hid is in the register."),
    ("dismissal_deleted", {"risk": "Lunch.", "restored": 0},
     "Lifted the dismissal of “Lunch.”: 0 findings it hid are in the register."),
    ("job_created", {"documents": 1}, "Started a batch job of 1 document."),
    ("job_cancelled", {"documents": 3}, "Cancelled a batch job (3 documents)."),
    ("model_shadow_ended", {"version": "v2", "why": "limit", "read": 1},
     "The shadow trial of model v2 ended (limit), 1 scan read."),
    ("model_training_started", {"base": "v1", "corrections": 1},
     "Started training from model v1 on 1 correction."),
    ("corrections_reviewed", {"decision": "rejected", "changed": 2, "label": "none"},
     "Rejected 2 corrections labelled not a risk."),
    ("corrections_undone", {"changed": 1, "accepted": 1, "rejected": 0},
     "Undid 1 acceptance: 1 correction back to pending."),
    ("corrections_undone", {"changed": 3, "accepted": 1, "rejected": 2},
     "Undid 1 acceptance and 2 rejections: 3 corrections back to pending."),
])
def test_each_sentence_agrees_with_its_number(event, details, said):
    """Issue #74: every risk, correction, job, model and webhook sentence, in the singular
    and the plural; a label `none` said as every page says it."""
    from service.console.audit_views import sentence

    assert sentence({"event": event, "details": details}) == said
