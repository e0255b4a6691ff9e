"""Webhooks: each register event delivered to a real HTTP receiver on loopback, signed as the
Standard Webhooks specification says (verified with its own algorithm), after the change
commits, from the jobs engine's threads; retried after a 500 and a timeout on a clock the
test moves; refused before any connection for loopback, private, link-local and metadata
addresses (unless WEBHOOK_ALLOWED_NETWORKS allows them, as these tests do for 127.0.0.0/8),
at creation and again at send time; never following a redirect. No test sends anything
beyond this machine: every delivery goes to 127.0.0.1, and the refused URLs are judged
without a connection (an audit hook records every socket.connect to prove it)."""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from sqlalchemy import select

from service.extensions import db
from service.models import AuditEvent, WebhookDelivery
from service.webhooks.delivery import backoff_s
from service.webhooks.targets import Refused, judge
from tests.helpers import assert_problem, at_once
from tests.projects import Team, register_of, scan_into
from tests.scanning import KeywordAnalyzer
from tests.webhook_receiver import Receiver, verify

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
EVENTS = ["risk.created", "risk.reopened", "risk.status_changed", "risk.rated"]
TWO_RISKS = "The vendor may slip the delivery. The budget is overrun."

_connects: list | None = None  # while a test watches: every address a socket connects to


def _audit(event, args):
    if event == "socket.connect" and _connects is not None:
        _connects.append(args[1])


sys.addaudithook(_audit)


def reached(connections, host: str, port: int | None = None) -> list:
    """The connects to ``host`` (and ``port``) among those recorded (the database's own
    connections, on MariaDB, are not the webhook's)."""
    return [address for address in connections if isinstance(address, tuple)
            and address[0] == host and port in (None, address[1])]


@pytest.fixture
def connections():
    global _connects
    _connects = []
    yield _connects
    _connects = None


@pytest.fixture
def hooks_app(make_app, monkeypatch):
    app = make_app(WEBHOOK_ALLOWED_NETWORKS=LOOPBACK)
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", KeywordAnalyzer())
    return app


@pytest.fixture
def hooks(hooks_app):
    return Team(hooks_app, hooks_app.test_client())


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


def settled(app) -> None:
    """Wait until the engine has no delivery attempt running and none due."""
    assert app.extensions["riskscan.jobs"].later.wait_idle(30), "a delivery never settled"


def create(team, url, **fields) -> dict:
    response = team.client.post(f"/api/v1/projects/{team.id}/webhooks", headers=team.owner_h,
                                json={"url": url, "events": EVENTS, **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def deliveries_of(team, webhook_id) -> list[dict]:
    response = team.client.get(f"/api/v1/projects/{team.id}/webhooks/{webhook_id}/deliveries",
                               headers=team.owner_h)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def drain(receiver) -> list:
    requests = []
    while not receiver.nothing_more():
        requests.append(receiver.next())
    return requests


def audit_events(app, event) -> list[AuditEvent]:
    with app.app_context():
        return db.session.scalars(select(AuditEvent).where(AuditEvent.event == event)).all()


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


# Creating, reading, changing and deleting


def test_an_owner_creates_reads_changes_and_deletes_a_webhook(hooks_app, hooks, receiver):
    created = create(hooks, f"{receiver.url}/hook", events=["risk.created"],
                     categories=["budget", "vendor"])
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", created["secret"])
    assert len(base64.b64decode(created["secret"][6:])) == 32
    assert (created["url"], created["events"], created["categories"], created["min_score"],
            created["active"]) == (f"{receiver.url}/hook", ["risk.created"],
                                   ["budget", "vendor"], None, True)
    path = f"/api/v1/projects/{hooks.id}/webhooks/{created['id']}"
    listed = hooks.client.get(f"/api/v1/projects/{hooks.id}/webhooks", headers=hooks.owner_h)
    assert listed.status_code == 200
    assert [item["id"] for item in listed.get_json()["items"]] == [created["id"]]
    assert "secret" not in listed.get_json()["items"][0]  # shown once, at creation
    one = hooks.client.get(path, headers=hooks.owner_h)
    assert one.status_code == 200 and "secret" not in one.get_json()

    changed = hooks.client.patch(path, headers=hooks.owner_h, json={
        "active": False, "events": ["risk.reopened"], "min_score": 12, "categories": None})
    assert changed.status_code == 200, changed.get_json()
    assert (changed.get_json()["active"], changed.get_json()["events"],
            changed.get_json()["min_score"], changed.get_json()["categories"]) == (
        False, ["risk.reopened"], 12, None)
    [event] = audit_events(hooks_app, "webhook_updated")
    assert event.details["fields"] == ["active", "categories", "events", "min_score"]
    assert audit_events(hooks_app, "webhook_created")[0].target_id == created["id"]

    assert hooks.client.delete(path, headers=hooks.owner_h).status_code == 204
    assert_problem(hooks.client.get(path, headers=hooks.owner_h), 404)
    assert audit_events(hooks_app, "webhook_deleted")[0].target_id == created["id"]


def test_only_the_projects_owners_manage_its_webhooks(hooks_app, hooks, receiver):
    webhook = create(hooks, f"{receiver.url}/hook")
    collection = f"/api/v1/projects/{hooks.id}/webhooks"
    one = f"{collection}/{webhook['id']}"
    body = {"url": f"{receiver.url}/mine", "events": ["risk.created"]}
    for headers, status, detail in (
            (hooks.editor_h, 403, ("Your role in this project is editor: it may not manage it "
                                  "(that takes owner).")),
            (hooks.viewer_h, 403, ("Your role in this project is viewer: it may not manage it "
                                  "(that takes owner).")),
            (hooks.admin_h, 403, "Admins read every project; only its members change it."),
            (hooks.outsider_h, 404, "No such project.")):
        for method, path, json_ in (("POST", collection, body), ("GET", collection, None),
                                    ("GET", one, None), ("PATCH", one, {"active": False}),
                                    ("DELETE", one, None), ("GET", f"{one}/deliveries", None)):
            response = hooks.client.open(path, method=method, headers=headers, json=json_)
            assert assert_problem(response, status)["detail"] == detail, (method, path)
    listed = hooks.client.get(collection, headers=hooks.owner_h).get_json()
    assert [(item["id"], item["active"]) for item in listed["items"]] == [(webhook["id"], True)]
    assert len(audit_events(hooks_app, "webhook_created")) == 1
    assert audit_events(hooks_app, "webhook_updated") == []
    assert audit_events(hooks_app, "webhook_deleted") == []


@pytest.mark.parametrize(("body", "field"), [
    ({"events": ["risk.created"]}, "url"),
    ({"url": "ftp://127.0.0.1/hook", "events": ["risk.created"]}, "url"),
    ({"url": "http://127.0.0.1/" + "a" * 2048, "events": ["risk.created"]}, "url"),
    ({"url": "not a url", "events": ["risk.created"]}, "url"),
    ({"url": "http://127.0.0.1/hook"}, "events"),
    ({"url": "http://127.0.0.1/hook", "events": []}, "events"),
    ({"url": "http://127.0.0.1/hook", "events": ["risk.deleted"]}, "events"),
    ({"url": "http://127.0.0.1/hook", "events": ["risk.created", "risk.created"]}, "events"),
    ({"url": "http://127.0.0.1/hook", "events": "risk.created"}, "events"),
    ({"url": "http://127.0.0.1/hook", "events": ["risk.created"], "min_score": 0}, "min_score"),
    ({"url": "http://127.0.0.1/hook", "events": ["risk.created"], "min_score": 26},
     "min_score"),
    ({"url": "http://127.0.0.1/hook", "events": ["risk.created"], "min_score": 2.5},
     "min_score"),
    ({"url": "http://127.0.0.1/hook", "events": ["risk.created"], "categories": ["weather"]},
     "categories"),
    ({"url": "http://127.0.0.1/hook", "events": ["risk.created"], "categories": []},
     "categories"),
    ({"url": "http://127.0.0.1/hook", "events": ["risk.created"], "active": "yes"}, "active"),
    ({"url": "http://127.0.0.1/hook", "events": ["risk.created"], "secret": "whsec_mine"},
     "secret"),
    ({"url": "http://user:pw@127.0.0.1/hook", "events": ["risk.created"]}, "url"),
])
def test_a_malformed_webhook_is_a_422_naming_the_field_and_nothing_is_made(
        hooks_app, hooks, body, field):
    response = hooks.client.post(f"/api/v1/projects/{hooks.id}/webhooks",
                                 headers=hooks.owner_h, json=body)
    assert_problem(response, 422, field)
    listed = hooks.client.get(f"/api/v1/projects/{hooks.id}/webhooks", headers=hooks.owner_h)
    assert listed.get_json()["total"] == 0
    assert audit_events(hooks_app, "webhook_created") == []


def test_an_oversized_or_non_json_body_is_refused(hooks_app, hooks):
    path = f"/api/v1/projects/{hooks.id}/webhooks"
    huge = {"url": "http://127.0.0.1/hook", "events": ["risk.created"], "pad": "x" * 300_000}
    assert_problem(hooks.client.post(path, headers=hooks.owner_h, json=huge), 413)
    assert_problem(hooks.client.post(path, headers=hooks.owner_h, data="url=x"), 415)
    assert_problem(hooks.client.post(path, headers=hooks.owner_h, data="{",
                                     content_type="application/json"), 400)
    assert hooks.client.get(path, headers=hooks.owner_h).get_json()["total"] == 0


def test_another_projects_webhook_is_the_same_404_as_a_missing_one(hooks_app, hooks, receiver):
    theirs = create(hooks, f"{receiver.url}/hook")
    other = Team(hooks_app, hooks.client)  # another project, another owner
    for suffix in ("", "/deliveries"):
        foreign = other.client.get(
            f"/api/v1/projects/{other.id}/webhooks/{theirs['id']}{suffix}", headers=other.owner_h)
        missing = other.client.get(
            f"/api/v1/projects/{other.id}/webhooks/{'0' * 8}-0000-4000-8000-{'0' * 12}{suffix}",
            headers=other.owner_h)
        assert assert_problem(foreign, 404)["detail"] == "No such webhook."
        assert assert_problem(missing, 404)["detail"] == "No such webhook."
    patched = other.client.patch(f"/api/v1/projects/{other.id}/webhooks/{theirs['id']}",
                                 headers=other.owner_h, json={"active": False})
    assert_problem(patched, 404)
    mine = hooks.client.get(f"/api/v1/projects/{hooks.id}/webhooks/{theirs['id']}",
                            headers=hooks.owner_h)
    assert mine.get_json()["active"] is True


def test_racing_creates_stop_at_the_projects_cap(hooks_app, hooks, receiver):
    for number in range(9):
        create(hooks, f"{receiver.url}/{number}")
    responses = at_once(hooks_app, "POST", f"/api/v1/projects/{hooks.id}/webhooks",
                        parallel=3, headers=hooks.owner_h,
                        json={"url": f"{receiver.url}/last", "events": ["risk.created"]})
    assert sorted(r.status_code for r in responses) == [201, 409, 409]
    refused = next(r for r in responses if r.status_code == 409)
    assert assert_problem(refused, 409)["detail"] == (
        "This project has 10 webhooks, the most it may have; delete one first.")
    listed = hooks.client.get(f"/api/v1/projects/{hooks.id}/webhooks", headers=hooks.owner_h)
    assert listed.get_json()["total"] == 10


# Events, signed


def test_each_event_reaches_the_webhooks_that_want_it_signed(hooks_app, hooks, receiver):
    every = create(hooks, f"{receiver.url}/every")
    status = create(hooks, f"{receiver.url}/status", events=["risk.status_changed"])
    budget = create(hooks, f"{receiver.url}/budget", events=["risk.created"],
                    categories=["budget"])
    rated = create(hooks, f"{receiver.url}/rated", events=["risk.created"], min_score=1)
    secrets = {"/every": every["secret"], "/status": status["secret"],
               "/budget": budget["secret"], "/rated": rated["secret"]}

    scan = scan_into(hooks.client, hooks.editor_h, hooks.id, TWO_RISKS)
    settled(hooks_app)
    entries = {entry["category"]: entry for entry in register_of(hooks.client, hooks.owner_h,
                                                                 hooks.id)}
    created = drain(receiver)
    # The unrated risks pass no minimum rating: nothing for /rated.
    assert sorted(r.path for r in created) == ["/budget", "/every", "/every"]
    for request in created:
        assert verify(secrets[request.path], request.headers, request.body,
                      now=datetime.now(UTC).timestamp())
        assert request.headers["content-type"] == "application/json"
        body = json.loads(request.body)
        assert body["type"] == "risk.created"
        assert body["data"]["project_id"] == hooks.id and body["data"]["scan_id"] == scan[
            "scan_id"]
        entry = entries[body["data"]["risk"]["category"]]
        assert (body["data"]["risk"]["id"], body["data"]["risk"]["risk"],
                body["data"]["risk"]["status"], body["data"]["risk"]["score"]) == (
            entry["id"], entry["risk"], "open", None)
    assert json.loads(next(r for r in created if r.path == "/budget").body)["data"]["risk"][
        "category"] == "budget"
    delivered = deliveries_of(hooks, every["id"])
    assert {d["id"] for d in delivered} == {r.headers["webhook-id"] for r in created
                                            if r.path == "/every"}
    for delivery in delivered:
        assert (delivery["event"], delivery["status"], delivery["attempts"],
                delivery["response_status"], delivery["error"]) == (
            "risk.created", "delivered", 1, 204, None)
        assert delivery["duration_ms"] >= 0 and delivery["next_attempt_at"] is None

    risk = f"/api/v1/projects/{hooks.id}/risks/{entries['budget']['id']}"
    assert_problem(hooks.client.patch(risk, headers=hooks.viewer_h, json={"status": "closed"}),
                   403)
    assert hooks.client.patch(risk, headers=hooks.editor_h,
                              json={"notes": "no event"}).status_code == 200
    closed = hooks.client.patch(risk, headers=hooks.editor_h, json={"status": "closed"})
    assert closed.status_code == 200
    settled(hooks_app)
    changed = drain(receiver)  # the viewer's refused change and the notes sent nothing
    assert sorted(r.path for r in changed) == ["/every", "/status"]
    for request in changed:
        assert verify(secrets[request.path], request.headers, request.body,
                      now=datetime.now(UTC).timestamp())
        body = json.loads(request.body)
        assert (body["type"], body["data"]["from"], body["data"]["to"],
                body["data"]["actor_id"], body["data"]["risk"]["id"]) == (
            "risk.status_changed", "open", "closed", hooks.editor["id"], entries["budget"]["id"])

    scan_into(hooks.client, hooks.editor_h, hooks.id, "The budget is overrun again.")
    settled(hooks_app)
    [reopened] = drain(receiver)
    assert reopened.path == "/every"
    assert verify(secrets["/every"], reopened.headers, reopened.body,
                  now=datetime.now(UTC).timestamp())
    body = json.loads(reopened.body)
    assert (body["type"], body["data"]["was"], body["data"]["risk"]["id"],
            body["data"]["risk"]["status"], body["data"]["risk"]["reopened"]) == (
        "risk.reopened", "closed", entries["budget"]["id"], "open", True)


def test_a_rating_reaches_the_webhooks_whose_minimum_score_it_passes(hooks_app, hooks,
                                                                     receiver):
    """``risk.rated`` carries the score before and after; a rule's minimum score holds
    back the ratings below it."""
    serious = create(hooks, f"{receiver.url}/serious", events=["risk.rated"], min_score=12)
    every = create(hooks, f"{receiver.url}/every", events=["risk.rated"])
    scan_into(hooks.client, hooks.editor_h, hooks.id, "The budget is overrun.")
    settled(hooks_app)
    [entry] = register_of(hooks.client, hooks.owner_h, hooks.id)
    risk = f"/api/v1/projects/{hooks.id}/risks/{entry['id']}"

    low = hooks.client.patch(risk, headers=hooks.editor_h, json={"likelihood": 2, "impact": 2})
    assert low.status_code == 200
    settled(hooks_app)
    [first] = drain(receiver)
    assert first.path == "/every"
    assert json.loads(first.body)["data"]["from"] is None
    high = hooks.client.patch(risk, headers=hooks.editor_h, json={"likelihood": 4, "impact": 4})
    assert high.status_code == 200
    settled(hooks_app)
    sent = sorted(drain(receiver), key=lambda r: r.path)
    assert [r.path for r in sent] == ["/every", "/serious"]
    secrets = {"/every": every["secret"], "/serious": serious["secret"]}
    for request in sent:
        assert verify(secrets[request.path], request.headers, request.body,
                      now=datetime.now(UTC).timestamp())
        body = json.loads(request.body)
        assert (body["type"], body["data"]["from"], body["data"]["to"],
                body["data"]["risk"]["score"], body["data"]["actor_id"]) == (
            "risk.rated", 4, 16, 16, hooks.editor["id"])


def test_a_signature_made_with_another_secret_or_body_does_not_verify(hooks_app, hooks,
                                                                      receiver):
    """The test's verify is not a stamp: it refuses what the specification refuses."""
    webhook = create(hooks, f"{receiver.url}/hook", events=["risk.created"])
    scan_into(hooks.client, hooks.owner_h, hooks.id, "The vendor may slip.")
    request = receiver.next()
    now = datetime.now(UTC).timestamp()
    assert verify(webhook["secret"], request.headers, request.body, now=now)
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    assert not verify(other, request.headers, request.body, now=now)
    assert not verify(webhook["secret"], request.headers, request.body + b" ", now=now)
    assert not verify(webhook["secret"], request.headers, request.body, now=now + 301)


def test_an_inactive_webhook_gets_nothing(hooks_app, hooks, receiver):
    webhook = create(hooks, f"{receiver.url}/hook", active=False)
    scan_into(hooks.client, hooks.owner_h, hooks.id, TWO_RISKS)
    settled(hooks_app)
    assert receiver.nothing_more()
    assert deliveries_of(hooks, webhook["id"]) == []


def test_a_scan_returns_while_the_receiver_still_holds_its_delivery(hooks_app, hooks, receiver):
    webhook = create(hooks, f"{receiver.url}/slow", events=["risk.created"])
    receiver.answers = ["block"]  # answers only once the test releases it
    scan = hooks.client.post("/api/v1/scans", headers=hooks.owner_h,
                             json={"text": "The vendor may slip.", "project_id": hooks.id})
    assert scan.status_code == 201  # back, with the receiver not answering
    assert not receiver.release.is_set()
    arrived = receiver.next()  # the delivery was sent, and waits on the receiver
    assert json.loads(arrived.body)["data"]["scan_id"] == scan.get_json()["scan_id"]
    receiver.release.set()
    settled(hooks_app)
    # One attempt, answered once released: it never timed out inside the scan's request.
    [delivery] = deliveries_of(hooks, webhook["id"])
    assert (delivery["status"], delivery["attempts"], delivery["response_status"]) == (
        "delivered", 1, 204)


# Retries


def test_a_receivers_500_is_retried_with_backoff_until_it_answers(hooks_app, hooks, receiver):
    webhook = create(hooks, f"{receiver.url}/hook", events=["risk.created"])
    receiver.answers = [500]
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        scan_into(hooks.client, hooks.owner_h, hooks.id, "The vendor may slip.")
        first = receiver.next()
        settled(hooks_app)
        [delivery] = deliveries_of(hooks, webhook["id"])
        assert (delivery["status"], delivery["attempts"], delivery["response_status"],
                delivery["error"]) == ("pending", 1, 500, "Answered 500.")
        wait = at(delivery["next_attempt_at"]) - at(delivery["last_attempt_at"])
        assert timedelta(seconds=8) <= wait <= timedelta(seconds=12)  # 10 s ± 20 %
        clock.shift(wait - timedelta(seconds=1))
        hooks_app.extensions["riskscan.jobs"].later.wake()
        settled(hooks_app)
        assert receiver.nothing_more()  # not before its time
        clock.shift(timedelta(seconds=1))
        hooks_app.extensions["riskscan.jobs"].later.wake()
        second = receiver.next()
        settled(hooks_app)
        assert verify(webhook["secret"], second.headers, second.body,
                      now=datetime.now(UTC).timestamp())
    assert second.headers["webhook-id"] == first.headers["webhook-id"] == delivery["id"]
    assert second.body == first.body
    [delivery] = deliveries_of(hooks, webhook["id"])
    assert (delivery["status"], delivery["attempts"], delivery["response_status"],
            delivery["error"], delivery["next_attempt_at"]) == ("delivered", 2, 204, None, None)


def test_a_receiver_that_does_not_answer_in_time_is_retried(make_app, monkeypatch, receiver):
    app = make_app(WEBHOOK_ALLOWED_NETWORKS=LOOPBACK, WEBHOOK_TIMEOUT_S=0.5)
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", KeywordAnalyzer())
    team = Team(app, app.test_client())
    webhook = create(team, f"{receiver.url}/hook", events=["risk.created"])
    receiver.answers = ["block"]
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        scan_into(team.client, team.owner_h, team.id, "The vendor may slip.")
        receiver.next()
        settled(app)  # the attempt gave up waiting while the receiver still holds it
        [delivery] = deliveries_of(team, webhook["id"])
        assert (delivery["status"], delivery["attempts"], delivery["response_status"],
                delivery["error"]) == ("pending", 1, None, "No answer within 0.5 s.")
        receiver.release.set()
        clock.move_to(at(delivery["next_attempt_at"]))
        app.extensions["riskscan.jobs"].later.wake()
        receiver.next()
        settled(app)
    [delivery] = deliveries_of(team, webhook["id"])
    assert (delivery["status"], delivery["attempts"], delivery["response_status"]) == (
        "delivered", 2, 204)


def test_a_delivery_past_its_retry_window_has_failed(make_app, monkeypatch, receiver):
    app = make_app(WEBHOOK_ALLOWED_NETWORKS=LOOPBACK, WEBHOOK_RETRY_HOURS=0.001)  # 3.6 s
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", KeywordAnalyzer())
    team = Team(app, app.test_client())
    webhook = create(team, f"{receiver.url}/hook", events=["risk.created"])
    receiver.answers = [503]
    scan_into(team.client, team.owner_h, team.id, "The vendor may slip.")
    receiver.next()
    settled(app)
    [delivery] = deliveries_of(team, webhook["id"])
    assert (delivery["status"], delivery["attempts"], delivery["response_status"],
            delivery["next_attempt_at"]) == ("failed", 1, 503, None)


class Fixed:
    def __init__(self, value):
        self.value = value

    def random(self):
        return self.value


def test_the_backoff_grows_threefold_to_four_hours_with_jitter_and_spans_about_a_day():
    assert [backoff_s(n, Fixed(0.5)) for n in range(1, 10)] == [
        10, 30, 90, 270, 810, 2430, 7290, 14400, 14400]
    assert backoff_s(1, Fixed(0.0)) == pytest.approx(8) and backoff_s(1, Fixed(1.0)) == 12
    waits, attempts = 0.0, 0
    while waits + backoff_s(attempts + 1, Fixed(0.5)) <= 24 * 3600:
        attempts += 1
        waits += backoff_s(attempts, Fixed(0.5))
    assert attempts == 12  # then the day is over: 13 attempts in all


def test_redelivery_sends_the_same_message_again_once(hooks_app, hooks, receiver):
    webhook = create(hooks, f"{receiver.url}/hook", events=["risk.created"])
    scan_into(hooks.client, hooks.owner_h, hooks.id, "The vendor may slip.")
    first = receiver.next()
    settled(hooks_app)
    [delivery] = deliveries_of(hooks, webhook["id"])
    path = (f"/api/v1/projects/{hooks.id}/webhooks/{webhook['id']}/deliveries/"
            f"{delivery['id']}/redeliver")
    assert_problem(hooks.client.post(path, headers=hooks.editor_h), 403)
    # The receiver holds the redelivery until both requests are answered: sent and
    # settled between them, it would rightly be redelivered twice.
    receiver.answers = ["block"]
    responses = at_once(hooks_app, "POST", path, parallel=2, headers=hooks.owner_h)
    assert sorted(r.status_code for r in responses) == [202, 409]
    refused = next(r for r in responses if r.status_code == 409)
    assert assert_problem(refused, 409)["detail"] == (
        "This delivery is pending: it is being sent or retried.")
    again = receiver.next()
    receiver.release.set()
    settled(hooks_app)
    assert receiver.nothing_more()
    assert (again.headers["webhook-id"], again.body) == (first.headers["webhook-id"], first.body)
    [delivery] = deliveries_of(hooks, webhook["id"])
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 2)
    assert len(audit_events(hooks_app, "webhook_redelivered")) == 1


# SSRF


@pytest.mark.parametrize(("url", "words"), [
    ("http://10.0.0.1/hook", "10.0.0.1 resolves to 10.0.0.1, a private address"),
    ("http://169.254.169.254/latest/meta-data/",
     "169.254.169.254 resolves to 169.254.169.254, a cloud metadata address"),
    ("http://169.254.1.1/hook", "169.254.1.1 resolves to 169.254.1.1, a link-local address"),
    ("http://[::1]:8080/hook", "::1 resolves to ::1, a loopback address"),
    ("http://[fd00::1]/hook", "fd00::1 resolves to fd00::1, a private address"),
    ("http://[fd00:ec2::254]/", "fd00:ec2::254 resolves to fd00:ec2::254, a cloud metadata"),
])
def test_a_url_of_a_private_loopback_link_local_or_metadata_address_is_refused_unconnected(
        app, client, accounts, connections, url, words):
    _, headers = accounts.user()
    project = client.post("/api/v1/projects", headers=headers, json={"name": "p"}).get_json()
    response = client.post(f"/api/v1/projects/{project['id']}/webhooks", headers=headers,
                           json={"url": url, "events": ["risk.created"]})
    body = assert_problem(response, 422, "url")
    assert words in body["detail"] and body["errors"]["url"] == [body["detail"]]
    host = urlsplit(url).hostname
    assert reached(connections, host) == []
    listed = client.get(f"/api/v1/projects/{project['id']}/webhooks", headers=headers)
    assert listed.get_json()["total"] == 0
    assert audit_events(app, "webhook_created") == []


def test_a_name_that_resolves_to_loopback_is_refused_and_never_reached(
        app, client, accounts, connections, receiver):
    _, headers = accounts.user()
    project = client.post("/api/v1/projects", headers=headers, json={"name": "p"}).get_json()
    url = f"http://localhost:{receiver.server.server_port}/hook"
    response = client.post(f"/api/v1/projects/{project['id']}/webhooks", headers=headers,
                           json={"url": url, "events": ["risk.created"]})
    assert "localhost resolves to 127.0.0.1, a loopback address" in assert_problem(
        response, 422, "url")["detail"]
    assert receiver.nothing_more()
    assert reached(connections, "127.0.0.1", receiver.server.server_port) == []
    changed = client.post(f"/api/v1/projects/{project['id']}/webhooks", headers=headers,
                          json={"url": "http://127.0.0.1:9/", "events": ["risk.created"]})
    assert_problem(changed, 422, "url")


def test_allowed_networks_let_loopback_in_and_nothing_else(hooks_app, hooks):
    create(hooks, "http://localhost:9/hook")
    response = hooks.client.post(f"/api/v1/projects/{hooks.id}/webhooks", headers=hooks.owner_h,
                                 json={"url": "http://10.0.0.1/", "events": ["risk.created"]})
    assert "a private address" in assert_problem(response, 422, "url")["detail"]


def test_a_patch_to_a_refused_url_changes_nothing(hooks_app, hooks, receiver, connections):
    webhook = create(hooks, f"{receiver.url}/hook")
    path = f"/api/v1/projects/{hooks.id}/webhooks/{webhook['id']}"
    response = hooks.client.patch(path, headers=hooks.owner_h,
                                  json={"url": "http://169.254.169.254/", "active": False})
    assert "a cloud metadata address" in assert_problem(response, 422, "url")["detail"]
    current = hooks.client.get(path, headers=hooks.owner_h).get_json()
    assert (current["url"], current["active"]) == (f"{receiver.url}/hook", True)
    assert reached(connections, "169.254.169.254") == []
    assert audit_events(hooks_app, "webhook_updated") == []


@pytest.mark.parametrize("url", ["http://0x7f.0.0.1/", "http://2130706433/",
                                 "http://127.1/", "http://[0:0:0:0:0:ffff:7f00:1]/",
                                 "http://[::ffff:127.0.0.1]/"])
def test_other_spellings_of_loopback_are_judged_by_the_address_they_resolve_to(url):
    with pytest.raises(Refused, match="a loopback address"):
        judge(url)
    assert judge(url, LOOPBACK).address == "127.0.0.1"


def test_the_address_is_judged_again_at_send_time(hooks_app, hooks, receiver, connections,
                                                  monkeypatch):
    """As if the name resolved elsewhere since (DNS rebinding): what was allowed when the
    webhook was saved is refused before the attempt connects."""
    webhook = create(hooks, f"{receiver.url}/hook", events=["risk.created"])
    monkeypatch.setitem(hooks_app.config, "SETTINGS", dataclasses.replace(
        hooks_app.config["SETTINGS"], WEBHOOK_ALLOWED_NETWORKS=()))
    connections.clear()
    scan_into(hooks.client, hooks.owner_h, hooks.id, "The vendor may slip.")
    settled(hooks_app)
    [delivery] = deliveries_of(hooks, webhook["id"])
    assert (delivery["status"], delivery["attempts"], delivery["response_status"]) == (
        "pending", 1, None)
    assert delivery["error"].startswith(
        "Refused: 127.0.0.1 resolves to 127.0.0.1, a loopback address")
    assert receiver.nothing_more()
    assert reached(connections, "127.0.0.1", receiver.server.server_port) == []


def test_a_redirect_is_not_followed(hooks_app, hooks, receiver):
    webhook = create(hooks, f"{receiver.url}/hook", events=["risk.created"])
    receiver.answers = ["redirect"]
    scan_into(hooks.client, hooks.owner_h, hooks.id, "The vendor may slip.")
    assert receiver.next().path == "/hook"
    settled(hooks_app)
    assert receiver.nothing_more()  # /elsewhere was never asked for
    [delivery] = deliveries_of(hooks, webhook["id"])
    assert (delivery["status"], delivery["attempts"], delivery["response_status"],
            delivery["error"]) == ("pending", 1, 302, "Answered 302, a redirect: not followed.")


def test_the_deliveries_rows_hold_the_body_as_signed(hooks_app, hooks, receiver):
    webhook = create(hooks, f"{receiver.url}/hook", events=["risk.created"])
    scan_into(hooks.client, hooks.owner_h, hooks.id, "The vendor may slip.")
    request = receiver.next()
    settled(hooks_app)
    with hooks_app.app_context():
        row = db.session.scalars(select(WebhookDelivery)
                                 .where(WebhookDelivery.webhook_id == webhook["id"])).one()
        assert row.body.encode() == request.body
