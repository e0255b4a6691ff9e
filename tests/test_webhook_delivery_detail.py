"""One delivery whole (GET …/deliveries/{id}): what each attempt sends (method, URL, headers
with the signature withheld, the body byte for byte) and what the receiver last answered
(status, headers, the first 4 KB of its body). Its project's owners only; another
webhook's or project's delivery, and an id that is none, are a 404."""

from __future__ import annotations

import json
import uuid

from tests import webhooks
from tests.helpers import assert_problem
from tests.webhooks import create, deliveries_of, settled

hooks_app, hooks, receiver = webhooks.hooks_app, webhooks.hooks, webhooks.receiver
make_hooks_app = webhooks.make_hooks_app


def _pinged(team, receiver, app, **fields) -> tuple[dict, dict]:
    """A webhook of ``team`` pinged once, settled: (the webhook, its delivery)."""
    webhook = create(team, f"{receiver.url}/hook", events=["risk.created"], **fields)
    answer = team.client.post(f"/api/v1/projects/{team.id}/webhooks/{webhook['id']}/ping",
                              headers=team.owner_h)
    assert answer.status_code == 202, answer.get_json()
    receiver.next()
    settled(app)
    [delivery] = deliveries_of(team, webhook["id"])
    return webhook, delivery


def _detail(team, webhook_id, delivery_id, headers=None):
    return team.client.get(f"/api/v1/projects/{team.id}/webhooks/{webhook_id}/deliveries/"
                           f"{delivery_id}", headers=headers or team.owner_h)


def test_a_delivery_shows_what_was_sent_and_the_answer_kept_to_4_kb(hooks_app, hooks,
                                                                   receiver):
    receiver.answers = [(422, "Unknown event type «ping»\n".encode() + b"x" * 5000)]
    webhook, listed = _pinged(hooks, receiver, hooks_app)

    answer = _detail(hooks, webhook["id"], listed["id"])

    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert (body["status"], body["response_status"]) == ("failed", 422)
    sent = body["request"]
    assert (sent["method"], sent["url"]) == ("POST", f"{receiver.url}/hook")
    assert json.loads(sent["body"])["type"] == "ping"
    assert sent["headers"]["webhook-id"] == listed["id"]
    assert sent["headers"]["webhook-signature"].startswith("v1,… (withheld")
    assert webhook["secret"] not in json.dumps(body)
    assert body["response_headers"]["Content-Type"] == "text/plain; charset=utf-8"
    assert body["response_body"].startswith("Unknown event type «ping»\n")
    assert len(body["response_body"].encode()) <= 4096
    assert "request" not in listed and "response_body" not in listed  # the list stays small


def test_no_answer_keeps_nothing_of_one(hooks_app, hooks, receiver):
    webhook = create(hooks, f"{receiver.url}/hook", events=["risk.created"])
    hooks.client.patch(f"/api/v1/projects/{hooks.id}/webhooks/{webhook['id']}",
                       headers=hooks.owner_h, json={"url": "http://127.0.0.1:9/closed"})
    hooks.client.post(f"/api/v1/projects/{hooks.id}/webhooks/{webhook['id']}/ping",
                      headers=hooks.owner_h)
    settled(hooks_app)
    [listed] = deliveries_of(hooks, webhook["id"])

    body = _detail(hooks, webhook["id"], listed["id"]).get_json()

    assert (body["response_status"], body["response_headers"], body["response_body"]) == (
        None, None, None)


def test_only_owners_read_a_delivery_and_others_ids_are_404(hooks_app, hooks, receiver):
    webhook, delivery = _pinged(hooks, receiver, hooks_app)
    other = create(hooks, f"{receiver.url}/other", events=["risk.created"])

    for headers, status in ((hooks.editor_h, 403), (hooks.viewer_h, 403),
                            (hooks.outsider_h, 404)):
        assert_problem(_detail(hooks, webhook["id"], delivery["id"], headers), status)
    for webhook_id, delivery_id in ((other["id"], delivery["id"]),
                                    (webhook["id"], str(uuid.uuid4())),
                                    (webhook["id"], "not-an-id")):
        assert_problem(_detail(hooks, webhook_id, delivery_id), 404)
