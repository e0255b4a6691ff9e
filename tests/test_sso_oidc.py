"""OpenID Connect sign-in (service/auth/oidc.py) against a real provider (tests/sso/): the
console's sign-in and sign-out through the provider's own pages, as a person meets them.
On both databases, through the Flask test client. The hostile answers a browser or a
provider may bring back: test_sso_oidc_hostile.py; the provider's JWTs on the API:
test_sso_oidc_api.py; Chromium: tests/e2e/test_console_sso.py."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from service.auth import identities
from service.db import User
from service.extensions import db
from tests.helpers import PASSWORD, Accounts
from tests.sso.console import START, come_back, events, signed_in_as, text
from tests.sso.provider import ADMINS, ALLOWED, CLIENT_ID, Person

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def test_the_sign_in_page_offers_the_provider(sso):
    _, client = sso()
    page = text(client.get("/app/sign-in"))
    assert "Sign in with Example SSO" in page and 'href="/app/sign-in/oidc"' in page
    assert 'name="password"' in page and "Register" in page  # local accounts still on


def test_with_local_accounts_off_the_password_is_only_for_administrators(sso, make_app):
    _, client = sso(AUTH_LOCAL=False)
    page = text(client.get("/app/sign-in"))
    assert "Sign in with Example SSO" in page and "Register" not in page
    folded = page[page.index("<details"):page.index("</details>")]
    assert "Administrator sign-in" in folded and 'name="password"' in folded

    plain = text(make_app().test_client().get("/app/sign-in"))  # no provider: no button
    assert "Sign in with" not in plain and 'href="/app/sign-in/oidc"' not in plain
    closed = text(make_app(AUTH_LOCAL=False).test_client().get("/app/sign-in"))
    assert 'name="password"' in closed and "Register" not in closed


def test_a_break_glass_admin_still_signs_in_with_a_password(sso, make_app):
    setup = make_app()
    Accounts(setup, setup.test_client()).user(role="admin", email="root@example.com")
    _, client = sso(AUTH_LOCAL=False, AUTH_BREAK_GLASS_ADMINS=("root@example.com",))
    token = CSRF.search(text(client.get("/app/sign-in"))).group(1)
    answer = client.post("/app/sign-in", data={"email": "root@example.com",
                                                "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 302 and signed_in_as(client) == "root@example.com"


def test_the_first_sign_in_makes_the_user_and_lands_on_the_console(sso, oidc_provider):
    app, client = sso()
    back = come_back(client, oidc_provider, "ada")
    assert back.status_code == 302 and back.location.endswith("/app/scan")
    assert signed_in_as(client) == "ada@example.com"
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "ada@example.com"))
        assert (user.auth_source, user.role) == ("oidc", "user")
        assert user.external_id == f"oidc:{oidc_provider.issuer} ada"
    assert len(events(app, "sso_user_created")) == 1

    again = app.test_client()  # another day, another browser: the same account
    come_back(again, oidc_provider, "ada")
    assert signed_in_as(again) == "ada@example.com"
    assert len(events(app, "sso_user_created")) == 1 and len(events(app, "sso_login")) == 2


def test_the_page_asked_for_before_sign_in_is_where_it_lands(sso, oidc_provider):
    _, client = sso()
    start = client.get(START + "?next=/app/projects")
    back = client.get(Person(oidc_provider).sign_in(start.location, "ada"))
    assert back.location.endswith("/app/projects")


def test_an_admin_group_makes_an_admin_who_sees_the_admin_pages(sso, oidc_provider):
    _, admin = sso()
    come_back(admin, oidc_provider, "grace")
    assert admin.get("/app/admin/users").status_code == 200
    _, user = sso()
    come_back(user, oidc_provider, "ada")
    assert user.get("/app/admin/users").status_code == 403


def test_leaving_the_allowed_groups_refuses_and_ends_every_session(sso, oidc_provider):
    app, first = sso()
    come_back(first, oidc_provider, "ada")
    assert signed_in_as(first) == "ada@example.com"

    oidc_provider.set_account("ada", groups=["marketing"])
    second = app.test_client()
    refused = come_back(second, oidc_provider, "ada")
    assert refused.status_code == 403 and identities.NOT_ALLOWED in text(refused)
    assert 'href="/app/sign-in/oidc"' in text(refused)  # the sign-in page, to try again
    assert signed_in_as(second) is None
    assert signed_in_as(first) is None  # the session from before ended too
    assert [e["reason"] for e in events(app, "sso_refused")] == ["not in an allowed group"]


def test_a_role_follows_the_groups_at_the_next_sign_in(sso, oidc_provider):
    app, client = sso()
    come_back(client, oidc_provider, "ada")
    oidc_provider.set_account("ada", groups=[ADMINS])
    later = app.test_client()
    come_back(later, oidc_provider, "ada")
    assert later.get("/app/admin/users").status_code == 200
    assert [(e["old"], e["new"]) for e in events(app, "role_change")] == [("user", "admin")]


def test_signing_out_ends_the_session_and_logs_out_at_the_provider(sso, oidc_provider):
    _, client = sso()
    person = Person(oidc_provider)
    come_back(client, oidc_provider, "ada", person)
    token = CSRF.search(text(client.get("/app/scan"))).group(1)

    out = client.post("/app/sign-out", data={"csrf_token": token})
    assert out.status_code == 302 and out.location.startswith(oidc_provider.issuer)
    query = parse_qs(urlsplit(out.location).query)
    assert query["post_logout_redirect_uri"] == ["http://localhost/app/sign-in"]
    assert query["client_id"] == [CLIENT_ID] and query["id_token_hint"][0].count(".") == 2
    assert signed_in_as(client) is None

    back = person.sign_out(out.location)
    assert back.startswith("http://localhost/app/sign-in")
    assert client.get(back).status_code == 200
    # The provider forgot the person: the next sign-in asks for the login again.
    start = client.get(START)
    assert person.sign_in(start.location, "ada", consent=False).startswith(
        oidc_provider.issuer + "/interaction/")


def test_a_person_in_many_groups_signs_in_and_out_though_the_id_token_is_not_kept(
        sso, oidc_provider):
    _, client = sso()
    oidc_provider.set_account("ada", groups=[ALLOWED] + [f"team-{n:03}" for n in range(150)])
    person = Person(oidc_provider)
    come_back(client, oidc_provider, "ada", person)
    assert signed_in_as(client) == "ada@example.com"  # the cookie was not too big to keep
    token = CSRF.search(text(client.get("/app/scan"))).group(1)
    out = client.post("/app/sign-out", data={"csrf_token": token})
    query = parse_qs(urlsplit(out.location).query)
    assert "id_token_hint" not in query and query["client_id"] == [CLIENT_ID]
    assert person.sign_out(out.location).startswith("http://localhost/app/sign-in")
    assert signed_in_as(client) is None


def test_a_person_the_provider_gives_no_email_is_refused_and_audited(sso, oidc_provider):
    app, client = sso()
    oidc_provider.set_account("ada", email=None)
    refused = come_back(client, oidc_provider, "ada")
    assert refused.status_code == 403 and "did not tell Riskscan your email" in text(refused)
    assert signed_in_as(client) is None
    assert [(e["subject"], e["reason"]) for e in events(app, "sso_refused")] == [
        ("ada", "no email from the provider")]


def test_an_unverified_email_is_refused_in_words(sso, oidc_provider):
    app, client = sso()
    refused = come_back(client, oidc_provider, "mallory")
    assert refused.status_code == 403 and identities.UNVERIFIED in text(refused)
    assert signed_in_as(client) is None
    with app.app_context():
        assert db.session.scalar(select(User).where(
            User.email == "mallory@example.com")) is None


def test_a_local_account_of_that_email_is_refused_unless_linking_is_allowed(
        sso, oidc_provider):
    app, client = sso()
    local = Accounts(app, client).register("ada@example.com")
    refused = come_back(client, oidc_provider, "ada")
    assert refused.status_code == 403 and identities.TAKEN in text(refused)
    assert signed_in_as(client) is None

    linking, browser = sso(OIDC_LINK_LOCAL_ACCOUNTS=True)
    come_back(browser, oidc_provider, "ada")
    assert signed_in_as(browser) == "ada@example.com"
    with linking.app_context():
        assert db.session.get(User, local["id"]).auth_source == "oidc"


def test_the_console_lets_its_forms_go_to_the_provider_and_nowhere_else(sso, oidc_provider):
    _, client = sso()
    policy = client.get("/app/sign-in").headers["Content-Security-Policy"]
    assert f"form-action 'self' {oidc_provider.issuer};" in policy  # the sign-out's redirect
    assert "script-src 'self';" in policy  # the rest as before
