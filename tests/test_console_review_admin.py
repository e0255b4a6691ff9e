"""The Review page and the admin pages of the web console, driven as a browser would: read
the page, fill in one of its forms as it stands (hidden fields and CSRF token included),
send it, follow the redirect. The API behind them (GET /api/v1/findings) has its own tests
in tests/test_findings_api.py."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from service.db import LLMCallLog, ScanFinding
from service.extensions import db
from tests.console_browser import (
    CSRF,
    UNSAFE_TARGETS,
    Forms,
    flashes,
    form,
    html,
    main_of,
    said_at,
    signed_in_client,
)
from tests.findings import TEXT, ScoredAnalyzer, correct, scan
from tests.helpers import PASSWORD


@pytest.fixture
def scored_app(app, monkeypatch):
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", ScoredAnalyzer())
    return app


@pytest.fixture
def reviewer(scored_app, client, accounts):
    """A signed-in browser of a user with one scan of TEXT (scores 0.3, 0.55, 0.8, 0.95)."""
    user, headers = accounts.user()
    found = scan(client, headers, TEXT)
    return signed_in_client(scored_app, user["email"]), headers, found


def findings_of(client, headers, **args) -> list[dict]:
    response = client.get("/api/v1/findings", query_string={"per_page": 100, **args},
                          headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


# -------------------------------------------------------------------------------- review


def test_the_review_page_opens_on_the_findings_nearest_the_operating_point(reviewer):
    """Every finding not answered yet, in the API's default order: those a person's answer
    teaches the model most first. A maximum score of 0.6 hid every finding of a default
    scan."""
    browser, headers, found = reviewer
    page = html(browser.get("/app/review"))
    assert "<h1>Review</h1>" in page
    assert 'role="search"' in page
    assert re.search(r'<label for="f-max-score">Maximum score</label>', page)
    assert re.search(r'id="f-max-score" name="max_score" type="number"[^>]*value=""', page)
    for label in ("Answered", "Category", "Project", "Order"):
        assert f">{label}</label>" in page
    assert '<option value="false" selected>Not answered</option>' in page
    assert "<caption>Findings to review, nearest the operating point first</caption>" in page
    assert '<div class="table-wrap">' in page
    rows = [int(row) for row in re.findall(r'<tr id="review-(\d+)"', page)]
    assert rows == [f["id"] for f in findings_of(browser, headers)]  # sort=nearest
    assert len(rows) == 4
    budget = next(f for f in found["data"] if f["category"] == "budget")
    assert (f'href="/app/scans/{found["scan_id"]}#finding-{budget["id"]}"') in page
    assert 'aria-label="Category of: The budget is short."' in page
    assert '<a href="/app/review/feedback.jsonl" download>Export feedback (JSONL)</a>' in page
    assert "30%" in page and "55%" in page


@pytest.mark.parametrize("back", UNSAFE_TARGETS)
def test_an_unsafe_back_after_a_correction_goes_to_the_finding(reviewer, back):
    browser, headers, found = reviewer
    budget = next(f for f in found["data"] if f["category"] == "budget")
    action = f"/app/scans/{found['scan_id']}/findings/{budget['id']}"
    page = html(browser.get("/app/review"))
    sent = browser.post(action, data=form(page, action, "Save").data(category="legal",
                                                                     back=back))
    assert sent.status_code == 302
    assert sent.headers["Location"] == f"/app/scans/{found['scan_id']}#finding-{budget['id']}"
    assert [f["id"] for f in findings_of(browser, headers, corrected="true")] == [budget["id"]]


def test_emptied_filters_list_everything_and_stay_empty_on_the_next_page(scored_app, client,
                                                                         accounts):
    user, headers = accounts.user()
    for _ in range(6):  # 24 findings: two pages of 20
        scan(client, headers)
    browser = signed_in_client(scored_app, user["email"])
    page = html(browser.get("/app/review", query_string={
        "max_score": "", "corrected": "", "category": "", "source": ""}))
    assert "24 findings" in page and "The password is shared." in page
    older = re.search(r'<a href="([^"]+)">Further from the operating point</a>',
                      page).group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(older).query, keep_blank_values=True) == {
        "page": ["2"], "max_score": [""], "corrected": [""], "category": [""], "source": [""]}
    second = html(browser.get(older))
    assert "Page 2 of 2" in second and second.count('class="review-mark"') == 4
    # The first visit lists those not answered yet: all of them, none is.
    first = html(browser.get("/app/review"))
    assert "24 findings" in first and "Further from the operating point" in first


def test_a_correction_from_the_review_page_shows_as_corrected(reviewer):
    browser, headers, found = reviewer
    budget = next(f for f in found["data"] if f["category"] == "budget")
    action = f"/app/scans/{found['scan_id']}/findings/{budget['id']}"
    page = html(browser.get("/app/review"))
    sent = browser.post(action, data=form(page, action, "Save").data(category="legal"))
    assert sent.status_code == 302
    # back to the queue at the row, not to the scan
    assert sent.headers["Location"] == f"/app/review#review-{budget['id']}"
    assert ("Saved: “The budget is short.” corrected to legal (the model said budget)."
            in html(browser.get(sent.headers["Location"])))
    # Among the answered ones, the row says it (not the page's top), where the page lands.
    sent = browser.post(action, data={**form(page, action, "Save").data(category="scope"),
                                      "back": "/app/review?corrected=true"})
    assert sent.headers["Location"] == f"/app/review?corrected=true#review-{budget['id']}"
    landed = html(browser.get(sent.headers["Location"]))
    assert flashes(landed) == [] and said_at(landed, f"review-{budget['id']}") == [
        "Saved: “The budget is short.” corrected to scope (the model said budget)."]
    sent = browser.post(action, data=form(page, action, "Save").data(category="legal"))

    corrected = html(browser.get("/app/review", query_string={"corrected": "true"}))
    # A finding's row by its sentence's link (the scan's title, its first line, says more).
    assert ">The budget is short.</a>" in corrected and "Corrected: legal" in corrected
    assert '<option value="true" selected>Answered</option>' in corrected
    assert ">The vendor is late.</a>" not in corrected
    pending = html(browser.get("/app/review", query_string={"corrected": "false",
                                                           "max_score": ""}))
    assert ">The budget is short.</a>" not in pending and ">The vendor is late.</a>" in pending
    assert [f["corrected_category"] for f in findings_of(browser, headers, corrected="true")] \
        == ["legal"]


def test_confirm_keeps_the_models_category_as_the_users(reviewer, scored_app):
    browser, headers, found = reviewer
    vendor = next(f for f in found["data"] if f["category"] == "vendor")
    action = f"/app/scans/{found['scan_id']}/findings/{vendor['id']}"
    page = html(browser.get("/app/review"))
    confirm = form(page, action, "Confirm")
    assert confirm.data()["category"] == "vendor"
    sent = browser.post(action, data=confirm.data())
    assert sent.status_code == 302
    [item] = findings_of(browser, headers, corrected="true")
    assert (item["id"], item["category"], item["corrected_category"]) == (
        vendor["id"], "vendor", "vendor")
    # Said as what it was, at once; answered, it leaves the queue of those not answered,
    # and among the answered ones it needs no confirming again.
    again = html(browser.get(sent.headers["Location"]))
    assert "Saved: “The vendor is late.” confirmed as vendor." in again
    assert f'<tr id="review-{vendor["id"]}"' not in again
    answered = html(browser.get("/app/review", query_string={"corrected": "true"}))
    row = answered[answered.index(f'<tr id="review-{vendor["id"]}"'):]
    row = row[:row.index("</tr>")]
    assert '<td class="review-answer">Confirmed</td>' in row and "Corrected" not in row
    assert "confirm-form" not in row


def test_not_a_risk_from_the_review_page_is_said_in_those_words(reviewer):
    browser, headers, found = reviewer
    budget = next(f for f in found["data"] if f["category"] == "budget")
    action = f"/app/scans/{found['scan_id']}/findings/{budget['id']}"
    page = html(browser.get("/app/review"))
    sent = browser.post(action, data=form(page, action, "Not a risk").data())
    assert sent.status_code == 302
    again = html(browser.get(sent.headers["Location"]))
    assert "Saved: “The budget is short.” is not a risk (the model said budget)." in again
    everything = html(browser.get("/app/review", query_string={"corrected": ""}))
    row = everything[everything.index(f'<tr id="review-{budget["id"]}"'):]
    row = row[:row.index("</tr>")]
    assert '<td class="review-answer">Not a risk</td>' in row and ">none<" not in row
    assert "dismiss-form" not in row and "confirm-form" not in row
    assert [f["corrected_category"] for f in findings_of(browser, headers, corrected="true")] \
        == ["none"]


def test_the_review_queue_is_the_users_own(scored_app, client, accounts, reviewer):
    _, _, found = reviewer
    other, other_h = accounts.user()
    scan(client, other_h, "The budget of the other team is short.")
    browser = signed_in_client(scored_app, other["email"])
    page = html(browser.get("/app/review", query_string={"max_score": ""}))
    assert "The budget of the other team is short." in page
    assert "The vendor is late." not in page and found["scan_id"] not in page
    # Posting a correction of another user's finding: the API's 404, as a page.
    finding = found["data"][0]
    token = CSRF.search(page).group(1)
    refused = browser.post(f"/app/scans/{found['scan_id']}/findings/{finding['id']}",
                           data={"csrf_token": token, "category": "none"})
    assert refused.status_code == 404 and "Not found" in html(refused)
    with scored_app.app_context():
        assert db.session.get(ScanFinding, finding["id"]).corrected_category is None


@pytest.mark.parametrize("args, field", [
    ({"max_score": "abc"}, "max_score"), ({"max_score": "2"}, "max_score"),
    ({"max_score": "-1"}, "max_score"), ({"corrected": "maybe"}, "corrected"),
    ({"category": "compliance"}, "category"), ({"category": "<script>x</script>" * 500},
                                               "category"),
    ({"page": "0"}, "page"), ({"source": "s" * 3000}, "source"),
])
def test_a_refused_filter_keeps_the_page_and_says_why(reviewer, args, field):
    browser, _, _ = reviewer
    response = browser.get("/app/review", query_string=args)
    assert response.status_code == 422
    page = html(response)
    assert "<h1>Review</h1>" in page and 'role="alert"' in page
    assert "<script>x</script>" not in page  # escaped wherever it is echoed
    assert "Findings to review" not in page


def test_export_corrections_is_the_apis_download(reviewer, client):
    browser, headers, found = reviewer
    correct(client, headers, found["scan_id"], found["data"][0]["id"], "legal")
    download = browser.get("/app/review/feedback.jsonl")
    direct = client.get("/api/v1/findings/feedback", headers=headers)
    assert download.status_code == direct.status_code == 200
    assert download.data == direct.data and b'"label": "legal"' in download.data
    for name in ("Content-Type", "Content-Disposition"):
        assert download.headers[name] == direct.headers[name]
    assert download.headers["Content-Disposition"] == (
        'attachment; filename="riskscan-feedback.jsonl"')


def test_the_review_page_and_its_download_need_a_session(app):
    browser = app.test_client()
    for path in ("/app/review", "/app/review/feedback.jsonl"):
        assert browser.get(path).headers["Location"].startswith("/app/sign-in")


# --------------------------------------------------------------------------------- admin


@pytest.fixture
def admin_browser(app, accounts):
    admin, admin_h = accounts.user(role="admin")
    return signed_in_client(app, admin["email"]), admin, admin_h


ADMIN_PAGES = ("/app/admin/users", "/app/admin/audit", "/app/admin/llm-calls",
               "/app/admin/mail", "/app/admin/models")


def test_a_user_gets_the_html_403_page_on_every_admin_page(app, accounts):
    user, _ = accounts.user()
    target, _ = accounts.user()
    browser = signed_in_client(app, user["email"])
    assert 'href="/app/admin/users"' not in html(browser.get("/app/scan"))  # no Admin link
    for path in ADMIN_PAGES:
        response = browser.get(path)
        assert response.status_code == 403, path
        page = html(response)
        assert "<h1>Not allowed</h1>" in page and target["email"] not in page
    # The review of corrections says whom to ask for the role (issue #85 item 5).
    corrections = browser.get("/app/corrections")
    assert corrections.status_code == 403
    assert "an admin grants it on the Users page" in html(corrections)
    token = CSRF.search(html(browser.get("/app/scan"))).group(1)
    deleted = browser.post(f"/app/admin/users/{target['id']}/delete",
                           data={"csrf_token": token})
    assert deleted.status_code == 403 and "<h1>Not allowed</h1>" in html(deleted)
    changed = browser.post(f"/app/admin/users/{target['id']}",
                           data={"csrf_token": token, "role": "admin", "active": "on"})
    missing = browser.post("/app/admin/users/00000000-0000-0000-0000-000000000000",
                           data={"csrf_token": token, "role": "admin", "active": "on"})
    # Another user's record: the API's 404, word for word a missing one's.
    assert (changed.status_code, main_of(changed)) == (404, main_of(missing))
    assert "<p>No such user.</p>" in main_of(changed)
    changed_own = browser.post(f"/app/admin/users/{user['id']}",
                               data={"csrf_token": token, "role": "admin", "active": "on"})
    assert changed_own.status_code == 422  # role on one's own record: the API refuses
    assert ("<p>You cannot change your own role.</p>"
            in html(changed_own))
    me = app.test_client().post("/api/v1/auth/login", json={"email": user["email"],
                                                            "password": PASSWORD})
    assert me.status_code == 200  # still a plain, active user
    with app.app_context():
        from service.db import User

        assert db.session.get(User, user["id"]).role == "user"
        assert db.session.get(User, target["id"]) is not None


def test_every_admin_page_has_the_sub_navigation_and_the_admin_link(admin_browser):
    browser, _, _ = admin_browser
    for path in ADMIN_PAGES:
        page = html(browser.get(path))
        nav = re.search(r'<nav class="admin-nav" aria-label="Administration">(.*?)</nav>', page,
                        re.DOTALL).group(1)
        assert [m for m in re.findall(r'href="([^"]+)"', nav)] == list(ADMIN_PAGES)
        assert f'href="{path}" aria-current="page"' in nav
        assert re.search(r'href="/app/admin/users" aria-current="page">Admin</a>', page)


def test_an_admin_changes_a_role_and_deactivates_a_user_whose_session_ends(app, accounts,
                                                                           admin_browser):
    browser, _, admin_h = admin_browser
    promoted, _ = accounts.user()
    leaving, _ = accounts.user()
    leaving_browser = signed_in_client(app, leaving["email"])
    assert leaving_browser.get("/app/scan").status_code == 200

    page = html(browser.get("/app/admin/users"))
    assert "<caption>Users, newest first</caption>" in page
    assert f'aria-label="Role of {promoted["email"]}"' in page
    assert f'aria-label="Active: {leaving["email"]}"' in page
    action = f"/app/admin/users/{promoted['id']}"
    sent = browser.post(action, data=form(page, action, "Save").data(role="admin"))
    assert sent.status_code == 302 and sent.headers["Location"] == "/app/admin/users"
    assert f"Saved {promoted['email']}: role admin." in html(browser.get("/app/admin/users"))

    page = html(browser.get("/app/admin/users"))
    action = f"/app/admin/users/{leaving['id']}"
    assert browser.post(action, data=form(page, action, "Save").data(active=None)
                        ).status_code == 302
    assert (f"Saved {leaving['email']}: deactivated: their sessions have ended."
            in html(browser.get("/app/admin/users")))

    users = app.test_client().get("/api/v1/users", headers=admin_h,
                                  query_string={"per_page": 100}).get_json()["items"]
    by_id = {u["id"]: u for u in users}
    assert (by_id[promoted["id"]]["role"], by_id[promoted["id"]]["active"]) == ("admin", True)
    assert (by_id[leaving["id"]]["role"], by_id[leaving["id"]]["active"]) == ("user", False)
    # The deactivated user's console session has ended.
    assert leaving_browser.get("/app/scan").headers["Location"].startswith("/app/sign-in")

    # The audit log page shows both, and filters by event and by user.
    audit = html(browser.get("/app/admin/audit", query_string={"event": "role_change"}))
    assert "<caption>Audit events, newest first</caption>" in audit
    assert audit.count("<th scope=\"row\">role change</th>") == 1
    assert promoted["email"] in audit and promoted["id"] not in audit
    about = html(browser.get("/app/admin/audit", query_string={"email": leaving["email"]}))
    assert '<th scope="row">user updated</th>' in about
    assert '<th scope="row">role change</th>' not in about


def test_a_save_that_changes_nothing_sends_nothing(app, admin_browser):
    browser, _, _ = admin_browser
    page = html(browser.get("/app/admin/users"))
    [row] = [f for f in Forms(page).forms if f.action.startswith("/app/admin/users/")
             and "Save" in f.text] or [None]
    assert row is None  # only the admin so far, whose own row has no form

    user = app.test_client().post("/api/v1/auth/register", json={
        "email": "plain@example.com", "password": PASSWORD}).get_json()
    page = html(browser.get("/app/admin/users"))
    action = f"/app/admin/users/{user['id']}"
    for back in UNSAFE_TARGETS:
        sent = browser.post(action, data=form(page, action, "Save").data(back=back))
        assert sent.headers["Location"] == "/app/admin/users"  # never another site or path
    assert "Nothing to change for plain@example.com." in html(browser.get("/app/admin/users"))
    events = html(browser.get("/app/admin/audit", query_string={"event": "user_updated"}))
    assert "No event matches." in events


@pytest.mark.parametrize("back", UNSAFE_TARGETS)
def test_an_unsafe_back_after_a_change_goes_to_the_users_page(app, accounts, admin_browser,
                                                               back):
    browser, _, admin_h = admin_browser
    promoted, _ = accounts.user()
    doomed, _ = accounts.user()
    page = html(browser.get("/app/admin/users"))
    action = f"/app/admin/users/{promoted['id']}"
    sent = browser.post(action, data=form(page, action, "Save").data(role="admin", back=back))
    assert (sent.status_code, sent.headers["Location"]) == (302, "/app/admin/users")
    action = f"/app/admin/users/{doomed['id']}/delete"
    sent = browser.post(action, data=form(page, action, "Delete").data(back=back))
    assert (sent.status_code, sent.headers["Location"]) == (302, "/app/admin/users")
    api = app.test_client()
    assert api.get(f"/api/v1/users/{promoted['id']}", headers=admin_h).get_json()[
        "role"] == "admin"
    assert api.get(f"/api/v1/users/{doomed['id']}", headers=admin_h).status_code == 404


def test_an_admin_deletes_a_user_after_being_asked(app, accounts, admin_browser):
    browser, _, admin_h = admin_browser
    doomed, _ = accounts.user()
    page = html(browser.get("/app/admin/users", query_string={"email": doomed["email"][:10]}))
    action = f"/app/admin/users/{doomed['id']}/delete"
    delete = form(page, action, "Delete")
    assert delete.attrs["data-confirm"].startswith(f"Delete {doomed['email']}")
    sent = browser.post(action, data=delete.data())
    assert sent.status_code == 302
    assert sent.headers["Location"] == f"/app/admin/users?email={doomed['email'][:10]}"
    assert "User deleted, with their scans and files." in html(browser.get(sent.headers[
        "Location"]))
    assert app.test_client().get(f"/api/v1/users/{doomed['id']}",
                                 headers=admin_h).status_code == 404


def test_the_last_admin_cannot_be_lost_and_the_page_says_so(app, admin_browser):
    browser, admin, _ = admin_browser
    token = CSRF.search(html(browser.get("/app/admin/users"))).group(1)
    # Their own row has no form; sent anyway, the API keeps its last admin.
    response = browser.post(f"/app/admin/users/{admin['id']}",
                            data={"csrf_token": token, "role": "user", "active": "on"})
    assert response.status_code == 409 and "<h1>Conflict</h1>" in html(response)
    response = browser.post(f"/app/admin/users/{admin['id']}/delete",
                            data={"csrf_token": token})
    assert response.status_code == 409 and "<h1>Conflict</h1>" in html(response)


@pytest.mark.parametrize("user_id", ["not-an-id", "x?role=admin", "1 OR 1=1",
                                     "00000000-0000-0000-0000-000000000000"])
def test_hostile_or_missing_ids_are_the_apis_404(accounts, admin_browser, user_id):
    browser, _, _ = admin_browser
    victim, _ = accounts.user()
    token = CSRF.search(html(browser.get("/app/admin/users"))).group(1)
    for path in (f"/app/admin/users/{user_id}", f"/app/admin/users/{user_id}/delete"):
        response = browser.post(path.replace("?", "%3F"),
                                data={"csrf_token": token, "role": "admin"})
        assert response.status_code == 404, path
        assert "<h1>Not found</h1>" in html(response)
    assert victim["email"] in html(browser.get("/app/admin/users"))


def test_a_form_without_its_csrf_token_is_refused(app, accounts, admin_browser, reviewer):
    browser, _, _ = admin_browser
    target, _ = accounts.user()
    for path, data in ((f"/app/admin/users/{target['id']}", {"role": "admin"}),
                       (f"/app/admin/users/{target['id']}/delete", {})):
        response = browser.post(path, data=data)
        assert response.status_code == 400
        assert "not sent from a page of this console" in html(response)
    user_browser, headers, found = reviewer
    finding = found["data"][0]
    response = user_browser.post(f"/app/scans/{found['scan_id']}/findings/{finding['id']}",
                                 data={"category": "none"})
    assert response.status_code == 400
    assert findings_of(user_browser, headers, corrected="true") == []
    users = html(browser.get("/app/admin/users"))
    assert target["email"] in users


def test_the_user_search_and_pages(app, admin_browser):
    browser, _, admin_h = admin_browser
    for number in range(21):  # as an admin creates them: registrations are rate-limited
        created = app.test_client().post("/api/v1/users", headers=admin_h, json={
            "email": f"team-{number:02d}@example.com", "password": PASSWORD})
        assert created.status_code == 201, created.get_json()
    page = html(browser.get("/app/admin/users", query_string={"email": "TEAM-"}))
    assert "21 users" in page and "Page 1 of 2" in page
    older = re.search(r'<a href="([^"]+)">Older</a>', page).group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(older).query) == {"page": ["2"], "email": ["TEAM-"]}
    assert html(browser.get(older)).count('class="admin-email"') == 1
    admins = html(browser.get("/app/admin/users", query_string={"role": "admin"}))
    assert "1 user" in admins and "1 users" not in admins and "team-00" not in admins
    refused = browser.get("/app/admin/users", query_string={"email": "x" * 300})
    assert refused.status_code == 422
    assert ('<p class="form-error" role="alert">The request has invalid or missing fields. '
            'Email: Longer than maximum length 254.</p>') in html(refused)
    assert html(browser.get("/app/admin/users", query_string={"email": "%_"})).count(
        'class="admin-email"') == 0  # LIKE's wildcards match themselves


def test_the_llm_call_log_page_and_its_filters(app, admin_browser):
    browser, _, _ = admin_browser
    with app.app_context():
        for number in range(22):
            db.session.add(LLMCallLog(model="fake-llm", latency_ms=120.4 + number,
                                      status="ok" if number % 2 else "timeout",
                                      http_status=200 if number % 2 else None,
                                      prompt_tokens=100, completion_tokens=20,
                                      error=None if number % 2 else "<b>read timeout</b>"))
        db.session.commit()
    page = html(browser.get("/app/admin/llm-calls"))
    assert "<caption>Calls to the LLM, newest first</caption>" in page
    assert "22 calls" in page and "Page 1 of 2" in page and "fake-llm" in page
    assert "&lt;b&gt;read timeout&lt;/b&gt;" in page and "<b>read" not in page
    timeouts = html(browser.get("/app/admin/llm-calls", query_string={"status": "timeout"}))
    assert "11 calls" in timeouts and '<th scope="row">ok</th>' not in timeouts
    older = re.search(r'<a href="([^"]+)">Older</a>', page).group(1)
    assert html(browser.get(older.replace("&amp;", "&"))).count('<th scope="row">') == 2
    refused = browser.get("/app/admin/llm-calls", query_string={"scan_id": "s" * 100})
    assert refused.status_code == 422
    assert ('<p class="form-error" role="alert">The request has invalid or missing fields. '
            'Scan id: Longer than maximum length 36.</p>') in html(refused)


def test_the_audit_page_refuses_an_unknown_event_with_words(admin_browser):
    browser, _, _ = admin_browser
    response = browser.get("/app/admin/audit", query_string={"event": "<i>nope</i>" * 100})
    assert response.status_code == 422
    page = html(response)
    assert 'role="alert"' in page and "<i>nope</i>" not in page
    login = html(browser.get("/app/admin/audit", query_string={"event": "login_success"}))
    assert '<th scope="row">login success</th>' in login
