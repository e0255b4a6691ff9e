"""How a delivery's attempts run (service/webhooks/delivery.py, sending.py) against real
receivers on loopback: an attempt ends at its deadline however slowly a receiver answers;
one project's slow receivers never hold every sender; every failure of an attempt is
recorded and the delivery settles; a retry pending for a webhook since switched off or
deleted sends nothing; two copies of one attempt send once; an attempt whose process died
is made again once its lease is over; a restart takes up what was pending.

Where a test runs the attempts itself, its app's engine hears of the deliveries and runs
none (``Held``), as a process that committed them and died before sending would."""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import update

from service.db import Webhook
from service.extensions import db
from service.jobs import queue
from service.webhooks import delivery, sending
from testkit.webhook_receiver import Receiver, certificate
from tests import webhooks
from tests.helpers import assert_problem
from tests.projects import Team, scan_into
from tests.webhook_listeners import KINDS, Listener
from tests.webhooks import (
    TWO_RISKS,
    at,
    create,
    deliveries_of,
    hear_the_service,
    rows,
    settled,
)

make_hooks_app, hooks_app, hooks = webhooks.make_hooks_app, webhooks.hooks_app, webhooks.hooks
receiver = webhooks.receiver

JOIN_S = 30.0  # the longest a test waits for a thread of its own


class Held:
    """An engine that hears of documents and deliveries and runs none."""

    def __init__(self):
        self.delivered: list[str] = []

    def submit(self, document_ids):
        pass

    def deliver(self, delivery_ids, wait_s=0.0):
        self.delivered.extend(delivery_ids)


def held_app(make_hooks_app, **settings):
    app = make_hooks_app(**settings)
    app.extensions["riskscan.jobs"] = Held()
    return app


def attempt(app, delivery_id):
    with app.app_context():
        try:
            return delivery.attempt(delivery_id)
        finally:
            db.session.remove()


def joined(thread: threading.Thread) -> None:
    thread.join(JOIN_S)
    assert not thread.is_alive(), f"{thread.name} never ended"


# An attempt's deadline, and one project's share of the senders


def test_an_attempt_ends_at_its_deadline_however_slowly_the_receiver_drips(make_hooks_app,
                                                                           receiver):
    """The receiver sends a byte of its answer well within each read's timeout, and never
    finishes: the attempt ends at WEBHOOK_TIMEOUT_S all told, hangs up, and is recorded as
    a timeout, to be tried again."""
    app = make_hooks_app(WEBHOOK_TIMEOUT_S=0.5)
    team = Team(app, app.test_client())
    webhook = create(team, f"{receiver.url}/slow", events=["risk.created"])
    receiver.answers = ["drip"]  # a byte each 0.05 s until released, which it never is
    scan_into(team.client, team.owner_h, team.id, "The vendor may slip.")
    receiver.next()
    settled(app)
    [row] = deliveries_of(team, webhook["id"])
    assert (row["status"], row["attempts"], row["response_status"], row["error"]) == (
        "pending", 1, None, "No HTTP answer within 0.5 s.")
    assert at(row["next_attempt_at"]) > at(row["last_attempt_at"])
    assert receiver.wait_for(lambda: receiver.cut == 1), "the sender never hung up"
    assert not receiver.release.is_set()


def test_one_projects_slow_receivers_never_hold_every_sender(make_hooks_app, receiver):
    """Six deliveries of one project to a receiver that drips its answers take two
    senders (the project's cap); the rest wait for them, and another project's delivery
    arrives while the two still drip. Released, every delivery arrives, once each."""
    app = make_hooks_app(WEBHOOK_TIMEOUT_S=60)
    slow_team, other_team = Team(app, app.test_client()), Team(app, app.test_client())
    with Receiver() as slow:
        slow.answers = ["drip"] * 6
        slow_hooks = [create(slow_team, f"{slow.url}/{n}", events=["risk.created"])
                      for n in range(3)]
        other = create(other_team, f"{receiver.url}/other", events=["risk.created"])
        scan_into(slow_team.client, slow_team.owner_h, slow_team.id, TWO_RISKS)
        first = [slow.next(), slow.next()]
        assert slow.wait_for(lambda: slow.held == 2)
        scan_into(other_team.client, other_team.owner_h, other_team.id, "The vendor may slip.")
        arrived = receiver.next(timeout_s=20)  # before either slow attempt's 60 s are over
        assert arrived.path == "/other"
        assert slow.held == 2 and slow.nothing_more()  # still dripping; no third one let in
        slow.release.set()
        rest = [slow.next() for _ in range(4)]
        settled(app)
        assert sorted(r.headers["webhook-id"] for r in first + rest) == sorted(
            d["id"] for hook in slow_hooks for d in deliveries_of(slow_team, hook["id"]))
        assert slow.nothing_more()
    for hook in slow_hooks:
        assert [(d["status"], d["attempts"]) for d in deliveries_of(slow_team, hook["id"])] == [
            ("delivered", 1), ("delivered", 1)]
    assert [(d["status"], d["attempts"]) for d in deliveries_of(other_team, other["id"])] == [
        ("delivered", 1)]


def test_a_burst_of_one_projects_deliveries_arrives_whole_two_at_a_time(
        make_hooks_app, receiver, caplog, monkeypatch):
    """Twenty deliveries of one scan: each arrives once, never more than two at a time,
    those deferred handed on as attempts end; none fails on our side (on MariaDB the
    claims, under the project's lock, and the settles beside them never deadlock)."""
    app = make_hooks_app()
    hear_the_service(caplog, monkeypatch)
    team = Team(app, app.test_client())
    hooks = [create(team, f"{receiver.url}/{n}", events=["risk.created"]) for n in range(10)]
    scan_into(team.client, team.owner_h, team.id, TWO_RISKS)
    arrived = [receiver.next() for _ in range(20)]
    settled(app)
    assert receiver.nothing_more()
    assert len({request.headers["webhook-id"] for request in arrived}) == 20
    assert receiver.most_at_once <= delivery.PROJECT_SENDERS
    for hook in hooks:
        assert [(d["status"], d["attempts"]) for d in deliveries_of(team, hook["id"])] == [
            ("delivered", 1), ("delivered", 1)]
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []


# Every failure is recorded, and the delivery settles


def test_an_attempt_that_fails_on_our_side_is_recorded_and_the_delivery_settles(
        make_hooks_app, receiver):
    """A webhook whose stored secret is damaged cannot be signed: the attempt is recorded
    as failed, the delivery fails at the end of its window, and may be redelivered."""
    app = make_hooks_app(WEBHOOK_RETRY_HOURS=0.001)  # 3.6 s: the first failure is the last
    team = Team(app, app.test_client())
    webhook = create(team, f"{receiver.url}/hook", events=["risk.created"])
    with app.app_context():
        db.session.execute(update(Webhook).where(Webhook.id == webhook["id"])
                           .values(secret="whsec_abc"))
        db.session.commit()
    scan_into(team.client, team.owner_h, team.id, "The vendor may slip.")
    settled(app)
    [row] = deliveries_of(team, webhook["id"])
    assert (row["status"], row["attempts"], row["response_status"], row["next_attempt_at"]) == (
        "failed", 1, None, None)
    assert row["error"] == "The attempt failed on Riskscan's side; it is logged."
    assert receiver.nothing_more()
    redelivered = team.client.post(f"/api/v1/projects/{team.id}/webhooks/{webhook['id']}/"
                                   f"deliveries/{row['id']}/redeliver", headers=team.owner_h)
    assert redelivered.status_code == 202, redelivered.get_json()


# An attempt without an HTTP answer tells nothing of why


def test_deliveries_without_an_http_answer_read_the_same_whatever_holds_the_port(
        make_hooks_app, receiver, caplog, monkeypatch):
    """A register event's deliveries to a closed port, a silent one, a service that is not
    HTTP, one that hangs up and TLS spoken to plain HTTP: each is recorded as the same
    failure, of the same duration, to be tried again; the log keeps each cause."""
    app = make_hooks_app(WEBHOOK_TIMEOUT_S=1)
    hear_the_service(caplog, monkeypatch)
    caplog.set_level("INFO", logger="riskscan.webhooks")
    team = Team(app, app.test_client())
    with contextlib.ExitStack() as ports:
        urls = [ports.enter_context(Listener(kind)).url for kind in KINDS]
        urls.append(f"https://127.0.0.1:{receiver.server.server_port}")
        hooks = [create(team, f"{url}/hook", events=["risk.created"]) for url in urls]
        scan_into(team.client, team.owner_h, team.id, "The vendor may slip.")
        settled(app)
        assert receiver.nothing_more()
    recorded = []
    for hook in hooks:
        [row] = deliveries_of(team, hook["id"])
        recorded.append((row["status"], row["attempts"], row["response_status"], row["error"],
                         row["duration_ms"]))
        assert at(row["next_attempt_at"]) > at(row["last_attempt_at"])
    assert recorded == [("pending", 1, None, "No HTTP answer within 1 s.", 1000)] * len(urls)
    for cause in ("ConnectionRefusedError", "BadStatusLine", "RemoteDisconnected", "SSLError"):
        assert cause in caplog.text, cause


def test_a_refused_connection_ends_no_sooner_than_the_attempts_deadline():
    """How soon an attempt fails would tell a closed port (at once) from a silent one (at
    the deadline): an attempt with no HTTP answer returns at the deadline, whatever the
    cause."""
    with Listener("closed") as closed:
        started = time.monotonic()
        outcome = sending.send(f"{closed.url}/hook", secrets=[sending.new_secret()],
                               message_id="msg_1", body="{}", allowed=webhooks.LOOPBACK,
                               timeout_s=0.5)
        took = time.monotonic() - started
    assert outcome == sending.Outcome(False, None, 500, "No HTTP answer within 0.5 s.")
    assert took >= 0.5


# HTTPS


def test_an_https_receiver_is_sent_to_only_with_a_trusted_certificate_for_its_name(
        make_hooks_app, tmp_path, monkeypatch, caplog):
    """The connection goes to the judged address, TLS checks the certificate against the
    host's name: untrusted, or for another name, nothing is sent. The owner reads no HTTP
    answer, as for any port that gives none; the log says why, for the operator."""
    cert, key = certificate(tmp_path, "localhost")
    app = make_hooks_app(WEBHOOK_TIMEOUT_S=1)
    hear_the_service(caplog, monkeypatch)
    caplog.set_level("INFO", logger="riskscan.webhooks")
    team = Team(app, app.test_client())
    with Receiver(tls=(cert, key)) as secure:
        port = secure.server.server_port
        named = create(team, f"https://localhost:{port}/hook", events=["risk.created"])
        scan_into(team.client, team.owner_h, team.id, "The vendor may slip.")
        settled(app)
        [untrusted] = deliveries_of(team, named["id"])
        assert (untrusted["status"], untrusted["error"]) == (
            "pending", "No HTTP answer within 1 s.")
        assert secure.nothing_more()

        monkeypatch.setattr(sending, "_tls", lambda: ssl.create_default_context(cafile=cert))
        by_address = create(team, f"https://127.0.0.1:{port}/hook", events=["risk.created"])
        scan_into(team.client, team.owner_h, team.id, "The budget is overrun.")
        request = secure.next()
        settled(app)
        assert secure.nothing_more()
    assert request.headers["host"] == f"localhost:{port}"
    [budget, _] = deliveries_of(team, named["id"])
    assert (budget["status"], budget["response_status"]) == ("delivered", 204)
    [mismatch] = deliveries_of(team, by_address["id"])
    assert (mismatch["status"], mismatch["error"]) == (
        "pending", "No HTTP answer within 1 s.")
    assert caplog.text.count("SSLCertVerificationError") == 2


# Retries of webhooks that changed


def test_a_retry_pending_for_a_webhook_since_switched_off_sends_nothing(hooks_app, hooks,
                                                                       receiver):
    webhook = create(hooks, f"{receiver.url}/hook", events=["risk.created"])
    receiver.answers = [500]
    path = f"/api/v1/projects/{hooks.id}/webhooks/{webhook['id']}"
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        scan_into(hooks.client, hooks.owner_h, hooks.id, "The vendor may slip.")
        receiver.next()
        settled(hooks_app)
        [row] = deliveries_of(hooks, webhook["id"])
        assert (row["status"], row["error"]) == ("pending", "Answered 500.")
        assert hooks.client.patch(path, headers=hooks.owner_h,
                                  json={"active": False}).status_code == 200
        clock.move_to(at(row["next_attempt_at"]))
        hooks_app.extensions["riskscan.jobs"].later.wake()
        settled(hooks_app)
    assert receiver.nothing_more()
    [row] = deliveries_of(hooks, webhook["id"])
    assert (row["status"], row["attempts"], row["error"], row["next_attempt_at"]) == (
        "failed", 2, "The webhook is inactive.", None)


def test_a_retry_pending_for_a_deleted_webhook_sends_nothing(hooks_app, hooks, receiver):
    webhook = create(hooks, f"{receiver.url}/hook", events=["risk.created"])
    receiver.answers = [500]
    path = f"/api/v1/projects/{hooks.id}/webhooks/{webhook['id']}"
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        scan_into(hooks.client, hooks.owner_h, hooks.id, "The vendor may slip.")
        receiver.next()
        settled(hooks_app)
        [row] = deliveries_of(hooks, webhook["id"])
        assert hooks.client.delete(path, headers=hooks.owner_h).status_code == 204
        clock.move_to(at(row["next_attempt_at"]))
        hooks_app.extensions["riskscan.jobs"].later.wake()
        settled(hooks_app)
    assert receiver.nothing_more()
    assert rows(hooks_app, webhook["id"]) == []
    assert_problem(hooks.client.get(f"{path}/deliveries", headers=hooks.owner_h), 404)


# Copies of an attempt, a process that died, a restart


def test_two_copies_of_one_attempt_at_once_send_one_request(make_hooks_app, receiver):
    """A broker that hands a task out twice, or a redelivery racing a retry: released
    together by a barrier, one copy sends and the other does nothing."""
    app = held_app(make_hooks_app)
    team = Team(app, app.test_client())
    webhook = create(team, f"{receiver.url}/hook", events=["risk.created"])
    scan_into(team.client, team.owner_h, team.id, "The vendor may slip.")
    [delivery_id] = app.extensions["riskscan.jobs"].delivered
    receiver.answers = ["block"]  # the sending copy holds until both are done
    barrier = threading.Barrier(2)

    def copy():
        barrier.wait(JOIN_S)
        attempt(app, delivery_id)

    copies = [threading.Thread(target=copy, name=f"copy {n}") for n in range(2)]
    for thread in copies:
        thread.start()
    receiver.next()
    receiver.release.set()
    for thread in copies:
        joined(thread)
    assert receiver.nothing_more()
    [row] = deliveries_of(team, webhook["id"])
    assert (row["status"], row["attempts"], row["response_status"]) == ("delivered", 1, 204)


class Died(BaseException):
    """The process ends mid-attempt: nothing after the claim runs."""


def test_an_attempt_whose_process_died_is_made_again_once_its_lease_is_over(
        make_hooks_app, receiver, monkeypatch):
    app = held_app(make_hooks_app)
    team = Team(app, app.test_client())
    webhook = create(team, f"{receiver.url}/hook", events=["risk.created"])
    scan_into(team.client, team.owner_h, team.id, "The vendor may slip.")
    [delivery_id] = app.extensions["riskscan.jobs"].delivered
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        with monkeypatch.context() as patched:
            def dies(*args, **kwargs):
                raise Died

            patched.setattr(delivery, "send", dies)
            try:
                attempt(app, delivery_id)
            except Died:
                pass
        [row] = deliveries_of(team, webhook["id"])
        assert (row["status"], row["attempts"]) == ("pending", 1)
        lease_over = at(row["next_attempt_at"])
        assert lease_over > at(row["last_attempt_at"])
        clock.move_to(lease_over - timedelta(seconds=1))
        attempt(app, delivery_id)  # still leased to the dead process: nothing
        assert receiver.nothing_more()
        clock.move_to(lease_over)
        attempt(app, delivery_id)
        receiver.next()
    [row] = deliveries_of(team, webhook["id"])
    assert (row["status"], row["attempts"], row["response_status"]) == ("delivered", 2, 204)


def test_a_restart_takes_up_the_deliveries_left_pending_each_at_its_time(make_hooks_app,
                                                                        receiver):
    """A process committed two deliveries and stopped before sending them, one due now and
    one a retry due in an hour; the next process sends each when it is due."""
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        first = held_app(make_hooks_app)
        team = Team(first, first.test_client())
        webhook = create(team, f"{receiver.url}/hook", events=["risk.created"])
        scan_into(team.client, team.owner_h, team.id, TWO_RISKS)
        due, later = first.extensions["riskscan.jobs"].delivered
        in_an_hour = datetime.now(UTC) + timedelta(hours=1)
        with first.app_context():
            db.session.execute(update(delivery.WebhookDelivery)
                               .where(delivery.WebhookDelivery.id == later)
                               .values(next_attempt_at=in_an_hour))
            db.session.commit()

        second = make_hooks_app()
        queue.resume(second)
        assert receiver.next().headers["webhook-id"] == due
        settled(second)
        assert receiver.nothing_more()
        clock.move_to(in_an_hour)
        second.extensions["riskscan.jobs"].later.wake()
        assert receiver.next().headers["webhook-id"] == later
        settled(second)
    assert [(d["status"], d["attempts"]) for d in deliveries_of(team, webhook["id"])] == [
        ("delivered", 1), ("delivered", 1)]
