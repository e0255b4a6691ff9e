"""What a receiver checks of a delivery, with the `standardwebhooks` package (the Standard
Webhooks reference implementation, not Riskscan's code): the signature under the webhook's
secret, over the body as sent, within five minutes of its timestamp. And a secret's
rotation: for WEBHOOK_SECRET_OVERLAP_HOURS every delivery carries a signature under the
secrets it replaced too, so that a receiver still holding one verifies until it is given
the new one; after it, only the new one signs. The clock is moved, never waited on."""

from __future__ import annotations

import base64
import dataclasses
import re
from datetime import UTC, datetime, timedelta

import time_machine

from tests import webhooks
from tests.helpers import assert_problem, at_once
from tests.projects import Team, scan_into
from tests.webhooks import at, audit_events, create, settled, verify

hooks_app, hooks, receiver = webhooks.hooks_app, webhooks.hooks, webhooks.receiver
make_hooks_app = webhooks.make_hooks_app


def test_a_signature_made_with_another_secret_or_body_or_too_long_ago_does_not_verify(
        hooks_app, hooks, receiver):
    """The library is not a stamp: it refuses what the specification refuses."""
    webhook = create(hooks, f"{receiver.url}/hook", events=["risk.created"])
    scan_into(hooks.client, hooks.owner_h, hooks.id, "The vendor may slip.")
    request = receiver.next()
    assert verify(webhook["secret"], request)
    assert request.headers["webhook-signature"].startswith("v1,")
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    assert not verify(other, request)
    assert not verify(webhook["secret"], dataclasses.replace(request, body=request.body + b" "))
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=301)):
        assert not verify(webhook["secret"], request)


def rotate(team, webhook_id: str) -> dict:
    response = team.client.post(
        f"/api/v1/projects/{team.id}/webhooks/{webhook_id}/rotate-secret", headers=team.owner_h)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def signatures(request) -> list[str]:
    return request.headers["webhook-signature"].split(" ")


def test_during_the_overlap_the_old_secret_verifies_and_after_it_only_the_new(
        make_hooks_app, receiver):
    app = make_hooks_app(ACCESS_TOKEN_EXPIRE_MINUTES=3 * 24 * 60)  # outlives the moved clock
    team = Team(app, app.test_client())
    webhook = create(team, f"{receiver.url}/hook", events=["risk.created"])
    old = webhook["secret"]
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        rotated = rotate(team, webhook["id"])
        new = rotated["secret"]
        assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", new) and new != old
        assert at(rotated["previous_secrets_until"]) == datetime.now(UTC) + timedelta(hours=24)
        [event] = audit_events(app, "webhook_secret_rotated")
        assert (event.target_id, event.actor_id) == (webhook["id"], team.owner["id"])
        assert "whsec_" not in str(event.details)

        scan_into(team.client, team.owner_h, team.id, "The vendor may slip.")
        during = receiver.next()
        settled(app)
        assert len(signatures(during)) == 2
        assert verify(old, during) and verify(new, during)

        clock.shift(timedelta(hours=24, seconds=1))
        scan_into(team.client, team.owner_h, team.id, "The budget is overrun.")
        after = receiver.next()
        settled(app)
        assert len(signatures(after)) == 1
        assert verify(new, after) and not verify(old, after)
        shown = team.client.get(f"/api/v1/projects/{team.id}/webhooks/{webhook['id']}",
                                headers=team.owner_h).get_json()
        assert shown["previous_secrets_until"] is None and "secret" not in shown


def test_a_rotation_repeated_or_raced_loses_no_secret_a_caller_was_given(hooks_app, hooks,
                                                                         receiver):
    """A rotation whose answer was lost, retried, or two at once: every secret handed out,
    and the one the receiver held before, verifies the next delivery."""
    webhook = create(hooks, f"{receiver.url}/hook", events=["risk.created"])
    path = f"/api/v1/projects/{hooks.id}/webhooks/{webhook['id']}/rotate-secret"
    first = rotate(hooks, webhook["id"])["secret"]
    raced = at_once(hooks_app, "POST", path, parallel=2, headers=hooks.owner_h)
    assert [r.status_code for r in raced] == [200, 200]
    given = [webhook["secret"], first, *(r.get_json()["secret"] for r in raced)]
    assert len(set(given)) == 4
    scan_into(hooks.client, hooks.owner_h, hooks.id, "The vendor may slip.")
    request = receiver.next()
    settled(hooks_app)
    assert len(signatures(request)) == 4
    assert all(verify(secret, request) for secret in given)


def test_a_rotation_answers_its_own_secret_when_another_commits_before_its_answer(
        hooks_app, hooks, receiver):
    """The interleaving the race above meets by chance, made to happen: rotation B commits
    between rotation A's commit and A's answer. Each caller is given the secret its own
    rotation wrote, and both verify the next delivery."""
    import threading

    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from service.db import Webhook

    webhook = create(hooks, f"{receiver.url}/hook", events=["risk.created"])
    path = f"/api/v1/projects/{hooks.id}/webhooks/{webhook['id']}/rotate-secret"
    answers, wrote = {}, set()

    def other_rotation():
        answers["B"] = hooks_app.test_client().post(path, headers=hooks.owner_h)

    def note_a_rotation(session, _context):  # pre-flush state: what this flush wrote
        if any(isinstance(row, Webhook) for row in session.dirty):
            wrote.add(id(session))

    def b_commits_now(session):
        # Once, right after the commit that holds A's rotation (B's own comes back here).
        if "B" in answers or id(session) not in wrote:
            return
        answers["B"] = None
        second = threading.Thread(target=other_rotation)
        second.start()
        second.join()

    event.listen(Session, "after_flush", note_a_rotation)
    event.listen(Session, "after_commit", b_commits_now)
    try:
        answers["A"] = hooks.client.post(path, headers=hooks.owner_h)
    finally:
        event.remove(Session, "after_commit", b_commits_now)
        event.remove(Session, "after_flush", note_a_rotation)
    assert [answers[name].status_code for name in "AB"] == [200, 200]
    given = [answers[name].get_json()["secret"] for name in "AB"]
    assert given[0] != given[1]
    scan_into(hooks.client, hooks.owner_h, hooks.id, "The vendor may slip.")
    request = receiver.next()
    settled(hooks_app)
    assert all(verify(secret, request) for secret in [webhook["secret"], *given])


def test_a_rotation_keeps_the_three_newest_secrets_it_replaced(hooks_app, hooks, receiver):
    webhook = create(hooks, f"{receiver.url}/hook", events=["risk.created"])
    given = [webhook["secret"]] + [rotate(hooks, webhook["id"])["secret"] for _ in range(4)]
    scan_into(hooks.client, hooks.owner_h, hooks.id, "The vendor may slip.")
    request = receiver.next()
    settled(hooks_app)
    assert len(signatures(request)) == 4
    assert [verify(secret, request) for secret in given] == [False, True, True, True, True]


def test_with_no_overlap_a_rotation_ends_the_old_secret_at_once(make_hooks_app, receiver):
    app = make_hooks_app(WEBHOOK_SECRET_OVERLAP_HOURS=0)
    team = Team(app, app.test_client())
    webhook = create(team, f"{receiver.url}/hook", events=["risk.created"])
    rotated = rotate(team, webhook["id"])
    assert rotated["previous_secrets_until"] is None
    scan_into(team.client, team.owner_h, team.id, "The vendor may slip.")
    request = receiver.next()
    settled(app)
    assert signatures(request) == [request.headers["webhook-signature"]]
    assert verify(rotated["secret"], request) and not verify(webhook["secret"], request)


def test_only_the_owners_rotate_and_another_projects_webhook_is_a_404(hooks_app, hooks,
                                                                      receiver):
    webhook = create(hooks, f"{receiver.url}/hook", events=["risk.created"])
    path = f"/api/v1/projects/{hooks.id}/webhooks/{webhook['id']}/rotate-secret"
    for headers, status in ((hooks.editor_h, 403), (hooks.viewer_h, 403),
                            (hooks.admin_h, 403), (hooks.outsider_h, 404), ({}, 401)):
        assert_problem(hooks.client.post(path, headers=headers), status)
    other = Team(hooks_app, hooks.client)
    foreign = other.client.post(
        f"/api/v1/projects/{other.id}/webhooks/{webhook['id']}/rotate-secret",
        headers=other.owner_h)
    assert assert_problem(foreign, 404)["detail"] == "No such webhook."
    assert audit_events(hooks_app, "webhook_secret_rotated") == []
    scan_into(hooks.client, hooks.owner_h, hooks.id, "The vendor may slip.")
    request = receiver.next()
    settled(hooks_app)
    assert signatures(request) == [request.headers["webhook-signature"]]
    assert verify(webhook["secret"], request)
