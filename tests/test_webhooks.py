"""Webhooks: each register event delivered to a real HTTP receiver on loopback, signed as the
Standard Webhooks specification says (verified by the `standardwebhooks` package, its
reference implementation), after the change commits, from the jobs engine's threads;
retried after a 500 and a timeout on a clock the test moves; never following a redirect.
Where a webhook may point (SSRF) is test_webhook_targets.py; how attempts are bounded,
capped and settled, test_webhook_delivery.py; secrets and their rotation,
test_webhook_secrets.py. No test sends anything beyond this machine: every delivery goes
to 127.0.0.1."""

from __future__ import annotations

import base64
import http.client
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from service.webhooks.delivery import backoff_s
from testkit.webhook_receiver import Receiver
from tests import webhooks
from tests.helpers import assert_problem, at_once
from tests.projects import Team, register_of, scan_into
from tests.webhooks import (
    TWO_RISKS,
    at,
    audit_events,
    create,
    deliveries_of,
    drain,
    rows,
    settled,
    verify,
)

hooks_app, hooks, receiver = webhooks.hooks_app, webhooks.hooks, webhooks.receiver
make_hooks_app = webhooks.make_hooks_app


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
    assert event.details["active"] is False  # what the switch did, for the audit's sentence
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

    scan = scan_into(hooks.client, hooks.editor_h, hooks.id, TWO_RISKS, reported_on="2026-11-02")
    settled(hooks_app)
    entries = {entry["category"]: entry for entry in register_of(hooks.client, hooks.owner_h,
                                                                 hooks.id)}
    created = drain(receiver)
    # The unrated risks pass no minimum rating: nothing for /rated.
    assert sorted(r.path for r in created) == ["/budget", "/every", "/every"]
    for request in created:
        assert verify(secrets[request.path], request)
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
        assert verify(secrets[request.path], request)
        body = json.loads(request.body)
        assert (body["type"], body["data"]["from"], body["data"]["to"],
                body["data"]["actor_id"], body["data"]["risk"]["id"]) == (
            "risk.status_changed", "open", "closed", hooks.editor["id"], entries["budget"]["id"])

    scan_into(hooks.client, hooks.editor_h, hooks.id, "The budget is overrun again.",
              reported_on="2026-11-09")  # a later report than the one it was closed at
    settled(hooks_app)
    [reopened] = drain(receiver)
    assert reopened.path == "/every"
    assert verify(secrets["/every"], reopened)
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
        assert verify(secrets[request.path], request)
        body = json.loads(request.body)
        assert (body["type"], body["data"]["from"], body["data"]["to"],
                body["data"]["risk"]["score"], body["data"]["actor_id"]) == (
            "risk.rated", 4, 16, 16, hooks.editor["id"])


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
        assert verify(webhook["secret"], second)
    assert second.headers["webhook-id"] == first.headers["webhook-id"] == delivery["id"]
    assert second.body == first.body
    [delivery] = deliveries_of(hooks, webhook["id"])
    assert (delivery["status"], delivery["attempts"], delivery["response_status"],
            delivery["error"], delivery["next_attempt_at"]) == ("delivered", 2, 204, None, None)


def test_a_receiver_that_does_not_answer_in_time_is_retried(make_hooks_app, receiver):
    app = make_hooks_app(WEBHOOK_TIMEOUT_S=0.5)
    team = Team(app, app.test_client())
    webhook = create(team, f"{receiver.url}/hook", events=["risk.created"])
    receiver.answers = ["block"]
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        scan_into(team.client, team.owner_h, team.id, "The vendor may slip.")
        receiver.next()
        settled(app)  # the attempt gave up waiting while the receiver still holds it
        [delivery] = deliveries_of(team, webhook["id"])
        assert (delivery["status"], delivery["attempts"], delivery["response_status"],
                delivery["error"]) == ("pending", 1, None, "No HTTP answer within 0.5 s.")
        receiver.release.set()
        clock.move_to(at(delivery["next_attempt_at"]))
        app.extensions["riskscan.jobs"].later.wake()
        receiver.next()
        settled(app)
    [delivery] = deliveries_of(team, webhook["id"])
    assert (delivery["status"], delivery["attempts"], delivery["response_status"]) == (
        "delivered", 2, 204)


def test_a_delivery_past_its_retry_window_has_failed(make_hooks_app, receiver):
    app = make_hooks_app(WEBHOOK_RETRY_HOURS=0.001)  # 3.6 s
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
    [row] = rows(hooks_app, webhook["id"])
    assert row.body.encode() == request.body


def test_a_held_request_never_released_fails_loudly_unanswered():
    """The receiver's own promise: a request it holds past its limit gets no answer, not a
    204 that would read as delivered, and leaving the receiver fails the test."""
    with (pytest.raises(AssertionError, match="held 0.2 s and never released"),
          Receiver(held_limit_s=0.2) as held):
        held.answers = ["block"]
        connection = http.client.HTTPConnection("127.0.0.1", held.server.server_port,
                                                timeout=30)
        connection.request("POST", "/hook", body=b"{}")
        with pytest.raises(http.client.RemoteDisconnected):
            connection.getresponse()
        connection.close()
