"""A delivery's own page in the console: from the webhook's deliveries, what was sent
(method, URL, headers with the signature withheld, the body indented) and what came back
(status, headers, the body as kept), escaped. Only the project's owners; another project's
delivery, and an id that is none, are the 404 page."""

from __future__ import annotations

import re

from tests import webhooks
from tests.console_browser import Browser, error_page, text_of
from tests.projects import Team
from tests.webhooks import deliveries_of, made, settled, the_webhook

make_hooks_app, hooks_app, receiver = (webhooks.make_hooks_app, webhooks.hooks_app,
                                       webhooks.receiver)
# The project of hooks_app as ``team``, and its members' browsers.
team, people = webhooks.hooks, webhooks.people


def _pinged(hooks_app, team, owner, receiver) -> tuple[str, str, str]:
    """A webhook made and pinged on the pages: (its page, its secret, the delivery's page)."""
    page, secret = made(owner, team, receiver)
    owner.post_form(page, f"{page}/ping", {})
    receiver.next()
    settled(hooks_app)
    [delivery] = deliveries_of(team, the_webhook(team)["id"])
    return page, secret, f"{page}/deliveries/{delivery['id']}"


def test_a_delivery_shows_the_request_and_the_answer(hooks_app, team, people, receiver):
    owner = people["owner"]
    receiver.answers = [(500, b"<script>alert(1)</script> database down")]
    page, secret, delivery_page = _pinged(hooks_app, team, owner, receiver)
    assert f'href="{delivery_page}"' in owner.page(page)

    response = owner.get(delivery_page)

    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    shown = text_of(response)
    assert f"<code>POST {receiver.url}/hook</code>" in shown
    assert "<code>webhook-signature</code>" in shown and "withheld" in shown
    assert secret not in shown
    assert '&#34;type&#34;: &#34;ping&#34;' in shown  # the body, indented
    assert "<strong>500</strong>" in shown and "Answered 500." in shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt; database down" in shown
    assert "<script>alert" not in shown
    assert re.search(r"<code>Content-Type</code>.*text/plain; charset=utf-8", shown)


def test_only_owners_and_only_this_projects_deliveries(hooks_app, team, people, receiver):
    _, _, delivery_page = _pinged(hooks_app, team, people["owner"], receiver)

    for who in ("editor", "viewer"):
        error_page(people[who].get(delivery_page), 403)
    assert "No such project." in error_page(people["outsider"].get(delivery_page), 404)
    other = Team(hooks_app, hooks_app.test_client())
    theirs = Browser(hooks_app, other.owner["email"])
    foreign = delivery_page.replace(team.id, other.id)
    assert "No such webhook." in error_page(theirs.get(foreign), 404)
    for bad in ("not..an-id", "00000000-0000-4000-8000-000000000000"):
        missing = re.sub(r"/deliveries/.*$", f"/deliveries/{bad}", delivery_page)
        assert "No such delivery." in error_page(people["owner"].get(missing), 404)
