"""The console's side of an OpenID sign-in in the Flask test client: what the tests of
test_sso_oidc*.py check a person sees."""

from __future__ import annotations

import re

from tests.helpers import audit_rows
from tests.sso.provider import Person

START = "/app/sign-in/oidc"


def come_back(client, provider, login, person=None):
    """``login`` clicks the button and signs in at the provider: the callback's answer."""
    start = client.get(START)
    assert start.status_code == 302, start.get_data(as_text=True)
    return client.get((person or Person(provider)).sign_in(start.location, login))


def text(response) -> str:
    return response.get_data(as_text=True)


def signed_in_as(client) -> str | None:
    """The email the console's header shows, or None when it sends to the sign-in page."""
    page = client.get("/app/scan")
    if page.status_code == 302:
        assert "/app/sign-in" in page.location
        return None
    found = re.search(r'<span class="who">([^<]+)</span>', text(page))
    return found and found.group(1)


def events(app, name):
    return [e.details for e in audit_rows(app, name)]
