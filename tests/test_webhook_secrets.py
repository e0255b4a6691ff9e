"""What a receiver checks of a delivery, with the `standardwebhooks` package (the Standard
Webhooks reference implementation, not Riskscan's code): the signature under the webhook's
secret, over the body as sent, within five minutes of its timestamp."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime, timedelta

import time_machine

from tests import webhooks
from tests.projects import scan_into
from tests.webhook_receiver import verify
from tests.webhooks import create

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
