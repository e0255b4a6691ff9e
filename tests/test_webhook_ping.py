"""A ping: an owner's test of a webhook's receiver (POST …/webhooks/{id}/ping), sent through
the outbox and the same attempts as the register's events, signed as they are, to a real
receiver on loopback. One attempt, no retries (its outcome is the receiver's answer now);
one pending at a time per webhook, so that pings cannot pile up requests at a URL."""

from __future__ import annotations

import contextlib
import json

from testkit.webhook_receiver import Receiver
from tests import webhooks
from tests.helpers import MISSING, assert_problem, at_once
from tests.projects import Team
from tests.webhook_listeners import KINDS, Listener
from tests.webhooks import (
    audit_events,
    create,
    deliveries_of,
    drain,
    hear_the_service,
    rows,
    settled,
    verify,
)

hooks_app, hooks, receiver = webhooks.hooks_app, webhooks.hooks, webhooks.receiver
make_hooks_app = webhooks.make_hooks_app


def ping_path(team, webhook_id: str) -> str:
    return f"/api/v1/projects/{team.id}/webhooks/{webhook_id}/ping"


def test_a_ping_reaches_the_receiver_signed_and_its_delivery_says_how_it_went(
        hooks_app, hooks, receiver):
    webhook = create(hooks, f"{receiver.url}/hook", events=["risk.created"])
    answer = hooks.client.post(ping_path(hooks, webhook["id"]), headers=hooks.owner_h)
    assert answer.status_code == 202, answer.get_json()
    shown = answer.get_json()
    assert shown["event"] == "ping"
    request = receiver.next()
    settled(hooks_app)
    assert verify(webhook["secret"], request)
    assert request.path == "/hook" and request.headers["webhook-id"] == shown["id"]
    body = json.loads(request.body)
    assert body["type"] == "ping"
    assert body["data"] == {"project_id": hooks.id, "webhook_id": webhook["id"],
                            "actor_id": hooks.owner["id"]}
    [delivery] = deliveries_of(hooks, webhook["id"])
    assert (delivery["id"], delivery["event"], delivery["status"], delivery["attempts"],
            delivery["response_status"]) == (shown["id"], "ping", "delivered", 1, 204)
    [event] = audit_events(hooks_app, "webhook_pinged")
    assert (event.target_id, event.actor_id, event.details) == (
        shown["id"], hooks.owner["id"], {"project_id": hooks.id, "webhook_id": webhook["id"]})


def test_a_failed_ping_is_not_retried_and_says_what_the_receiver_answered(
        hooks_app, hooks, receiver):
    webhook = create(hooks, f"{receiver.url}/hook", events=["risk.created"])
    receiver.answers = [500]
    answer = hooks.client.post(ping_path(hooks, webhook["id"]), headers=hooks.owner_h)
    assert answer.status_code == 202, answer.get_json()
    receiver.next()
    settled(hooks_app)
    [delivery] = deliveries_of(hooks, webhook["id"])
    assert (delivery["status"], delivery["attempts"], delivery["response_status"],
            delivery["error"], delivery["next_attempt_at"]) == (
        "failed", 1, 500, "Answered 500.", None)
    assert receiver.nothing_more()
    # Settled, it no longer holds the next ping back; and it may be redelivered as any other.
    again = hooks.client.post(ping_path(hooks, webhook["id"]), headers=hooks.owner_h)
    assert again.status_code == 202, again.get_json()
    receiver.next()
    settled(hooks_app)
    redelivered = hooks.client.post(
        f"/api/v1/projects/{hooks.id}/webhooks/{webhook['id']}/deliveries/"
        f"{delivery['id']}/redeliver", headers=hooks.owner_h)
    assert redelivered.status_code == 202, redelivered.get_json()
    assert json.loads(receiver.next().body)["type"] == "ping"
    settled(hooks_app)
    statuses = sorted((d["status"], d["attempts"]) for d in deliveries_of(hooks, webhook["id"]))
    assert statuses == [("delivered", 1), ("delivered", 2)]


def test_only_the_projects_owners_ping_and_another_projects_webhook_is_a_404(
        hooks_app, hooks, receiver):
    webhook = create(hooks, f"{receiver.url}/hook", events=["risk.created"])
    path = ping_path(hooks, webhook["id"])
    takes_owner = "Your role in this project is {}: it may not manage it (that takes owner)."
    for headers, status, detail in (
            (hooks.editor_h, 403, takes_owner.format("editor")),
            (hooks.viewer_h, 403, takes_owner.format("viewer")),
            (hooks.admin_h, 403, "Admins read every project; only its members change it."),
            (hooks.outsider_h, 404, "No such project.")):
        assert assert_problem(hooks.client.post(path, headers=headers), status)["detail"] \
            == detail
    assert_problem(hooks.client.post(path), 401)
    other = Team(hooks_app, hooks.client)  # another project, another owner
    foreign = other.client.post(ping_path(other, webhook["id"]), headers=other.owner_h)
    missing = other.client.post(ping_path(other, MISSING), headers=other.owner_h)
    assert assert_problem(foreign, 404)["detail"] == "No such webhook."
    assert assert_problem(missing, 404)["detail"] == "No such webhook."
    settled(hooks_app)
    assert receiver.nothing_more()
    assert rows(hooks_app, webhook["id"]) == []
    assert audit_events(hooks_app, "webhook_pinged") == []


def test_an_inactive_webhook_is_not_pinged(hooks_app, hooks, receiver):
    webhook = create(hooks, f"{receiver.url}/hook", events=["risk.created"], active=False)
    refused = hooks.client.post(ping_path(hooks, webhook["id"]), headers=hooks.owner_h)
    assert assert_problem(refused, 409)["detail"] == (
        "This webhook is switched off (active: false): switch it on to ping it.")
    settled(hooks_app)
    assert receiver.nothing_more() and rows(hooks_app, webhook["id"]) == []


def test_pings_at_once_send_one_while_it_is_pending(hooks_app, hooks, receiver):
    webhook = create(hooks, f"{receiver.url}/hook", events=["risk.created"])
    receiver.answers = ["block"]  # the first ping stays pending until released
    responses = at_once(hooks_app, "POST", ping_path(hooks, webhook["id"]), parallel=3,
                        headers=hooks.owner_h)
    assert sorted(r.status_code for r in responses) == [202, 409, 409]
    refused = next(r for r in responses if r.status_code == 409)
    assert assert_problem(refused, 409)["detail"] == (
        "A ping to this webhook is pending: its delivery shows when the receiver answers.")
    receiver.next()
    receiver.release.set()
    settled(hooks_app)
    assert len(drain(receiver)) == 0
    [delivery] = deliveries_of(hooks, webhook["id"])
    assert (delivery["event"], delivery["status"]) == ("ping", "delivered")
    assert len(audit_events(hooks_app, "webhook_pinged")) == 1


# What a ping tells of the port it was sent to


def test_a_ping_without_an_http_answer_reads_the_same_whatever_holds_the_port(
        make_hooks_app, receiver, caplog, monkeypatch):
    """A closed port, a silent one, a service that is not HTTP, one that hangs up, TLS
    spoken to plain HTTP: each ping's delivery reads the same failure, of the same
    duration, so that an owner's pings map no port of the network the service sits in. An
    HTTP receiver is told apart by its status alone. The log keeps each cause, for the
    operator."""
    app = make_hooks_app(WEBHOOK_TIMEOUT_S=1)
    hear_the_service(caplog, monkeypatch)
    caplog.set_level("INFO", logger="riskscan.webhooks")
    team = Team(app, app.test_client())
    receiver.answers = [500]
    with contextlib.ExitStack() as ports:
        urls = {kind: ports.enter_context(Listener(kind)).url for kind in KINDS}
        plain = ports.enter_context(Receiver())
        urls["tls to plain http"] = f"https://127.0.0.1:{plain.server.server_port}"
        urls["http"] = receiver.url
        hooks = {kind: create(team, f"{url}/hook", events=["risk.created"])["id"]
                 for kind, url in urls.items()}
        for webhook_id in hooks.values():
            answer = team.client.post(ping_path(team, webhook_id), headers=team.owner_h)
            assert answer.status_code == 202, answer.get_json()
            assert (answer.get_json()["status"], answer.get_json()["error"]) == (
                "pending", None)
        receiver.next()
        settled(app)
        assert plain.nothing_more()  # TLS never made a request of it
    recorded = {}
    for kind, webhook_id in hooks.items():
        [delivery] = deliveries_of(team, webhook_id)
        recorded[kind] = (delivery["status"], delivery["attempts"], delivery["response_status"],
                          delivery["error"], delivery["duration_ms"])
    no_answer = ("failed", 1, None, "No HTTP answer within 1 s.", 1000)
    assert recorded == {**{kind: no_answer for kind in urls if kind != "http"},
                        "http": ("failed", 1, 500, "Answered 500.", recorded["http"][4])}
    for cause in ("ConnectionRefusedError", "BadStatusLine", "RemoteDisconnected", "SSLError"):
        assert cause in caplog.text, cause


# Pings and URLs per user


def test_pings_and_url_changes_beyond_the_users_budget_are_a_429(make_hooks_app, receiver):
    """RATE_LIMIT_WEBHOOK_TARGETS: a webhook made, its URL changed and a ping draw on one
    budget per user; changing anything but the URL does not. Past it, a ping and a URL
    change are refused with Retry-After and change nothing; another owner has a budget of
    their own."""
    app = make_hooks_app(RATE_LIMIT_WEBHOOK_TARGETS="3 per hour")
    team = Team(app, app.test_client())
    webhook = create(team, f"{receiver.url}/hook", events=["risk.created"])  # 1
    path = f"/api/v1/projects/{team.id}/webhooks/{webhook['id']}"
    moved = team.client.patch(path, headers=team.owner_h, json={"url": f"{receiver.url}/two"})
    assert moved.status_code == 200, moved.get_json()  # 2
    pinged = team.client.post(ping_path(team, webhook["id"]), headers=team.owner_h)
    assert pinged.status_code == 202, pinged.get_json()  # 3
    assert receiver.next().path == "/two"
    settled(app)
    events = team.client.patch(path, headers=team.owner_h, json={"events": ["risk.rated"]})
    assert events.status_code == 200, events.get_json()  # no new target: free

    again = team.client.post(ping_path(team, webhook["id"]), headers=team.owner_h)
    assert_problem(again, 429)
    assert int(again.headers["Retry-After"]) > 0
    elsewhere = team.client.patch(path, headers=team.owner_h,
                                  json={"url": f"{receiver.url}/three"})
    assert_problem(elsewhere, 429)
    another = team.client.post(f"/api/v1/projects/{team.id}/webhooks", headers=team.owner_h,
                               json={"url": f"{receiver.url}/four", "events": ["risk.created"]})
    assert_problem(another, 429)
    settled(app)
    assert receiver.nothing_more()
    current = team.client.get(path, headers=team.owner_h).get_json()
    assert (current["url"], current["events"]) == (f"{receiver.url}/two", ["risk.rated"])
    assert len(deliveries_of(team, webhook["id"])) == 1
    assert len(audit_events(app, "webhook_pinged")) == 1

    other = Team(app, app.test_client())
    theirs = create(other, f"{receiver.url}/theirs", events=["risk.created"])
    assert other.client.post(ping_path(other, theirs["id"]),
                             headers=other.owner_h).status_code == 202
    assert receiver.next().path == "/theirs"
    settled(app)
