"""The console's API keys page (/app/account/keys), as a browser uses it: a key made on the
page is shown once and works, the list is one's own keys only, revoking ends a key (and
never another user's), and a form without its CSRF token changes nothing."""

from __future__ import annotations

import re

import pytest

from tests.console_browser import REFUSED_FORM, cookie_contents, csrf_of, html, sign_in
from tests.helpers import api_key_headers

KEYS = "/app/account/keys"
WHOLE_KEY = re.compile(r"rsk_[0-9a-f]{12}_[A-Za-z0-9_-]+")


@pytest.fixture
def keys_browser(app, accounts):
    """A signed-in browser, its user, and API headers of another login of the same user."""
    user, headers = accounts.user()
    client = app.test_client()
    assert sign_in(client, user["email"]).status_code == 302
    return client, user, headers


def _create(client, **fields):
    data = {"name": "ci", "scopes": ["scans:read"], "csrf_token": csrf_of(client, KEYS),
            **fields}
    return client.post(KEYS, data=data)


def _revoke(client, key_id, **data):
    return client.post(f"{KEYS}/{key_id}/revoke",
                       data={"csrf_token": csrf_of(client, KEYS), **data})


def test_a_key_made_on_the_page_is_shown_once_and_works_as_a_bearer(keys_browser):
    browser, _, headers = keys_browser
    made = _create(browser, name="nightly export", scopes=["scans:read", "account:read"])
    assert made.status_code == 302 and made.headers["Location"] == KEYS
    shown = browser.get(KEYS)
    assert shown.headers["Cache-Control"] == "no-store"
    page = html(shown)
    keys = WHOLE_KEY.findall(page)
    assert len(set(keys)) == 1, keys
    key = keys[0]
    assert "nightly export" in page and "scans:read" in page and "account:read" in page
    bearer = {"Authorization": f"Bearer {key}"}
    assert browser.get("/api/v1/scans", headers=bearer).status_code == 200
    assert browser.get("/api/v1/auth/me", headers=bearer).status_code == 200
    # Never again: not on the next view, not in the API's list.
    again = html(browser.get(KEYS))
    assert WHOLE_KEY.search(again) is None
    assert "nightly export" in again and key[:16] in again  # its prefix, to recognise it
    listed = browser.get("/api/v1/auth/api-keys", headers=headers).get_json()["items"]
    assert [item["name"] for item in listed] == ["nightly export"]


def test_an_admin_scope_is_offered_to_admins_only_and_refused_for_a_user(app, accounts):
    user, headers = accounts.user()
    browser = app.test_client()
    assert sign_in(browser, user["email"]).status_code == 302
    assert 'value="admin:read"' not in html(browser.get(KEYS))
    refused = _create(browser, scopes=["admin:read"])
    assert refused.status_code == 422
    assert "Only admins can give a key admin scopes." in html(refused)
    assert "Admin scopes need an admin." not in html(refused)  # said once
    assert browser.get("/api/v1/auth/api-keys", headers=headers).get_json()["items"] == []
    admin, _ = accounts.user(role="admin")
    admin_browser = app.test_client()
    assert sign_in(admin_browser, admin["email"]).status_code == 302
    assert 'value="admin:read"' in html(admin_browser.get(KEYS))


def test_a_key_without_a_scope_or_a_name_is_the_form_again_in_words(keys_browser):
    browser, _, headers = keys_browser
    refused = _create(browser, name="", scopes=[])
    assert refused.status_code == 422
    page = html(refused)
    assert 'id="key-name-error"' in page and 'id="key-scopes-error"' in page
    unknown = _create(browser, scopes=["scans:read", "root"])
    assert unknown.status_code == 422
    assert re.search(r'id="key-scopes-error">Must be one of: [^<]*scans:read', html(unknown))
    assert browser.get("/api/v1/auth/api-keys", headers=headers).get_json()["items"] == []


def test_an_expiry_date_is_kept_and_listed(keys_browser):
    browser, _, headers = keys_browser
    assert _create(browser, expires_on="2099-12-31").status_code == 302
    (key,) = browser.get("/api/v1/auth/api-keys", headers=headers).get_json()["items"]
    assert key["expires_at"].startswith("2099-12-31T")
    assert "2099-12-31" in html(browser.get(KEYS))
    past = _create(browser, expires_on="2001-01-01")
    assert past.status_code == 422 and "Must be in the future." in html(past)


def test_the_list_shows_only_ones_own_keys(app, accounts, keys_browser):
    browser, _, headers = keys_browser
    api_key_headers(browser, headers, "scans:read")
    _, other_headers = accounts.user()
    other_key = browser.post("/api/v1/auth/api-keys", headers=other_headers,
                             json={"name": "theirs-only", "scopes": ["scans:read"]}).get_json()
    page = html(browser.get(KEYS))
    assert "ops" in page
    assert "theirs-only" not in page and other_key["prefix"] not in page
    assert other_key["id"] not in page


def test_revoking_a_key_on_the_page_makes_it_stop_working(keys_browser):
    browser, _, headers = keys_browser
    key = api_key_headers(browser, headers, "scans:read")
    assert browser.get("/api/v1/scans", headers=key).status_code == 200
    (listed,) = browser.get("/api/v1/auth/api-keys", headers=headers).get_json()["items"]
    page = html(browser.get(KEYS))
    assert f'data-confirm="Revoke the key ops ({listed["prefix"]})?' in page
    revoked = _revoke(browser, listed["id"], name="ops")  # the form's hidden field
    assert revoked.status_code == 302 and revoked.headers["Location"] == KEYS
    after = html(browser.get(KEYS))
    assert "Key ops revoked" in after and "Revoked" in after
    assert browser.get("/api/v1/scans", headers=key).status_code == 401


def test_another_users_key_cannot_be_revoked_from_the_page(accounts, keys_browser):
    browser, _, _ = keys_browser
    _, other_headers = accounts.user()
    theirs = api_key_headers(browser, other_headers, "scans:read")
    (their_key,) = browser.get("/api/v1/auth/api-keys",
                               headers=other_headers).get_json()["items"]
    refused = _revoke(browser, their_key["id"])
    assert refused.status_code == 404
    assert "No such API key" in html(refused)
    assert browser.get("/api/v1/scans", headers=theirs).status_code == 200
    (still,) = browser.get("/api/v1/auth/api-keys", headers=other_headers).get_json()["items"]
    assert still["active"] is True and still["revoked_at"] is None
    assert _revoke(browser, "not..an/id").status_code == 404


def test_forms_without_their_csrf_token_change_nothing(keys_browser):
    browser, _, headers = keys_browser
    made = browser.post(KEYS, data={"name": "forged", "scopes": ["scans:read"]})
    assert made.status_code == 400 and f"<p>{REFUSED_FORM}</p>" in html(made)
    assert browser.get("/api/v1/auth/api-keys", headers=headers).get_json()["items"] == []
    key = api_key_headers(browser, headers, "scans:read")
    (listed,) = browser.get("/api/v1/auth/api-keys", headers=headers).get_json()["items"]
    refused = browser.post(f"{KEYS}/{listed['id']}/revoke", data={})
    assert refused.status_code == 400
    assert browser.get("/api/v1/scans", headers=key).status_code == 200


def test_signed_out_the_page_sends_to_sign_in(client):
    response = client.get(KEYS)
    assert response.status_code == 302
    assert response.headers["Location"] == "/app/sign-in?next=/app/account/keys"


def test_the_account_page_and_the_nav_lead_to_the_keys(keys_browser):
    browser, _, _ = keys_browser
    assert f'href="{KEYS}"' in html(browser.get("/app/account"))
    assert 'aria-current="page"' in html(browser.get(KEYS))


def test_a_new_key_never_travels_in_the_session_cookie(app, keys_browser):
    """The cookie is only signed: a key in it would be readable by anyone who sees the
    cookie until the page is loaded. It waits on the server behind a one-time id."""
    browser, _, _ = keys_browser
    made = _create(browser, name="cookie check")
    assert made.status_code == 302
    contents = cookie_contents(app, made)
    assert "rsk_" not in contents and "cookie check" not in contents
    key = WHOLE_KEY.search(html(browser.get(KEYS))).group(0)
    assert key[4:16] not in contents and key.rsplit("_", 1)[1] not in contents
    # Taken once: the one-time id does not show it again, even replayed.
    replay = app.test_client()
    replay.set_cookie("riskscan_console", made.headers["Set-Cookie"].split("=", 1)[1]
                      .split(";", 1)[0], path="/app")
    assert WHOLE_KEY.search(html(replay.get(KEYS))) is None
