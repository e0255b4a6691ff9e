"""A project's webhooks in Chromium: made from the project's page, its secret shown once,
pinged to a real receiver on loopback (this module's app allows loopback, as the webhook
tests' apps do) that verifies the signature, the ping's delivery read and redelivered, the
secret rotated after a confirmation (both signatures sent in the overlap), and the webhook
deleted after one; and one paused, resumed and edited (a refused URL said beside it)."""

from __future__ import annotations

import ipaddress
import json
import re

import pytest

from testkit.webhook_receiver import Receiver
from tests.e2e.driver import accessibility_violations, seed, sign_in
from tests.webhooks import settled, verify

pytestmark = pytest.mark.slow

SECRET = re.compile(r"^whsec_[A-Za-z0-9+/]{43}=$")


@pytest.fixture(scope="module")
def console_settings() -> dict:
    return {"WEBHOOK_ALLOWED_NETWORKS": (ipaddress.ip_network("127.0.0.0/8"),)}


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


def delivery_rows(page) -> list[list[str]]:
    """The deliveries table's rows, each as its cells' text."""
    table = page.get_by_role("table", name="Deliveries to this webhook, newest first")
    return [[cell.strip() for cell in row.locator("th, td").all_inner_texts()]
            for row in table.locator("tbody tr").all()]


def answering(page, accept: bool, questions: list) -> None:
    """The next confirmation is answered (and its question kept)."""
    def answer(dialog):
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", answer)


def webhook_made(page, console_app, receiver, email: str, project: str) -> str:
    """A project's owner signed in, who made a webhook to the receiver on the project's
    Webhooks page: the webhook's page (the browser is on it)."""
    owner = seed(console_app, email, project=project)
    sign_in(page, owner.email)
    page.goto(f"/app/projects/{owner.project_id}/webhooks")
    page.get_by_label("URL", exact=True).fill(f"{receiver.url}/hook")
    page.get_by_role("button", name="Add the webhook").click()
    page.wait_for_url(re.compile(r"/webhooks/[0-9a-f-]+$"))
    return page.url


def test_an_owner_makes_pings_rotates_and_deletes_a_webhook(page, console_app, receiver,
                                                             screenshots):
    owner = seed(console_app, "hooks@example.com", project="Payments platform")
    sign_in(page, owner.email)
    page.goto(f"/app/projects/{owner.project_id}")
    page.get_by_role("navigation", name="Project pages").get_by_role(
        "link", name="Webhooks").click()
    page.wait_for_url(re.compile(r"/webhooks$"))
    page.get_by_label("URL", exact=True).fill(f"{receiver.url}/hook")
    assert page.get_by_label("risk.created").is_checked()
    page.get_by_label("risk.rated").check()
    page.get_by_role("button", name="Add the webhook").click()
    page.wait_for_url(re.compile(r"/webhooks/[0-9a-f-]+$"))
    here = page.url
    secret = page.get_by_label("The secret").input_value()
    assert SECRET.match(secret), secret

    page.get_by_role("button", name="Send a ping").click()
    page.wait_for_url(here)
    assert "Ping sent" in page.locator(".flash").first.inner_text()
    assert page.get_by_label("The secret").count() == 0  # shown once
    assert secret not in page.content()
    ping = receiver.next()
    assert verify(secret, ping) and json.loads(ping.body)["type"] == "ping"
    settled(console_app)
    page.reload()
    [row] = delivery_rows(page)
    assert row[:3] == ["ping", "delivered", "1"] and row[3].startswith("204 in "), row

    page.get_by_role("button", name=re.compile("^Redeliver")).click()
    page.wait_for_url(here)
    again = receiver.next()
    assert again.headers["webhook-id"] == ping.headers["webhook-id"] and again.body == ping.body
    settled(console_app)
    page.reload()
    [row] = delivery_rows(page)
    assert row[:3] == ["ping", "delivered", "2"], row
    screenshots.take(page, "webhook")

    questions = []
    answering(page, True, questions)
    page.get_by_role("button", name="Rotate the secret").click()
    page.wait_for_url(here)
    assert questions[0].startswith("Rotate the secret of the webhook to")
    new = page.get_by_label("The secret").input_value()
    assert SECRET.match(new) and new != secret
    assert page.locator("#overlap").inner_text().startswith("For 24 hours, until ")
    page.get_by_role("button", name="Send a ping").click()
    page.wait_for_url(here)
    signed = receiver.next()
    settled(console_app)
    assert verify(new, signed) and verify(secret, signed)  # the overlap: both sign

    posts = []
    page.on("request", lambda request: request.method == "POST" and posts.append(request.url))
    answering(page, False, questions)
    page.get_by_role("button", name="Delete the webhook").click()
    page.evaluate("() => new Promise((done) => setTimeout(done, 0))")
    assert questions[1].startswith(f"Delete the webhook to {receiver.url}/hook") and posts == []
    answering(page, True, questions)
    with page.expect_navigation():
        page.get_by_role("button", name="Delete the webhook").click()
    page.wait_for_url(re.compile(r"/webhooks$"))
    assert "Webhook deleted" in page.locator(".flash").inner_text()
    assert "This project has no webhooks." in page.content()
    assert receiver.nothing_more()


def test_an_owner_pauses_resumes_and_edits_a_webhook(refused_page, console_app, receiver):
    page = refused_page
    here = webhook_made(page, console_app, receiver, "paused@example.com", "Paused hooks")

    page.get_by_role("button", name="Pause").click()
    page.wait_for_url(f"{here}#webhook-state")
    said = page.locator("#webhook-state").get_by_role("status")
    assert said.inner_text().startswith("Paused: nothing is sent to it")
    assert page.get_by_role("button", name="Pause").count() == 0
    page.get_by_role("button", name="Resume").click()
    page.wait_for_url(f"{here}#webhook-state")
    assert said.inner_text().startswith("Resumed:")

    page.get_by_label("URL", exact=True).fill("http://10.0.0.7/hook")  # private: refused
    page.get_by_role("button", name="Save the webhook").click()
    assert page.locator("#webhook-url-error").inner_text().startswith(
        "The URL is not allowed: a webhook's host must be a public address")
    assert page.get_by_label("URL", exact=True).input_value() == "http://10.0.0.7/hook"
    page.get_by_label("URL", exact=True).fill(f"{receiver.url}/moved")
    page.get_by_label("risk.merged").check()
    page.get_by_role("button", name="Save the webhook").click()
    page.wait_for_url(f"{here}#edit-webhook")
    assert page.locator("#edit-webhook").get_by_role("status").inner_text().startswith(
        "Saved:")
    assert f"{receiver.url}/moved" in page.locator("dl.details").inner_text()
    assert page.get_by_label("risk.merged").is_checked()
    page.get_by_role("button", name="Send a ping").click()
    page.wait_for_url(here)
    assert receiver.next().path == "/moved"
    settled(console_app)


def test_a_deliverys_request_and_answer_are_read_on_its_page(page, console_app, receiver,
                                                            axe_script, screenshots):
    here = webhook_made(page, console_app, receiver, "answers@example.com", "Answered hooks")
    secret = page.get_by_label("The secret").input_value()
    receiver.answers = [(503, b'{"error": "queue full, try later"}')]
    page.get_by_role("button", name="Send a ping").click()
    page.wait_for_url(here)
    receiver.next()
    settled(console_app)
    page.reload()

    page.get_by_role("link", name=re.compile("^Request and answer")).click()
    page.wait_for_url(re.compile(r"/deliveries/[0-9a-f-]+$"))

    request = page.get_by_role("region", name="Request")
    assert f"POST {receiver.url}/hook" in request.inner_text()
    assert '"type": "ping"' in request.inner_text()
    assert "withheld" in request.inner_text() and secret not in page.content()
    answer = page.get_by_role("region", name="Response")
    assert "503" in answer.inner_text()
    assert '{"error": "queue full, try later"}' in answer.inner_text()
    assert accessibility_violations(page, axe_script) == []
    screenshots.take(page, "webhook-delivery",
                     top=page.get_by_role("heading", name="Request body"))
    page.get_by_role("link", name="Back to the webhook").click()
    page.wait_for_url(re.compile(r"/webhooks/[0-9a-f-]+#delivery-[0-9a-f-]+$"))
