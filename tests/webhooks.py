"""What the webhook tests share: apps that may send to loopback, a real receiver there, the
signature check its deliveries pass, the record of every socket a test's code connects to,
the routes' calls, and a webhook made on the console's page as its owner's browser makes it. A test module takes the fixtures by naming them
(``hooks_app = webhooks.hooks_app``)."""

from __future__ import annotations

import ipaddress
import logging
import re
import sys
from datetime import datetime

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook, WebhookVerificationError

from service.db import AuditEvent, WebhookDelivery
from service.extensions import db
from service.jobs import queue
from testkit.webhook_receiver import Received, Receiver
from tests.console_browser import Browser, text_of
from tests.projects import Team
from tests.scanning import KeywordAnalyzer

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
EVENTS = ["risk.created", "risk.reopened", "risk.status_changed", "risk.rated"]
TWO_RISKS = "The vendor may slip the delivery. The budget is overrun."

_connects: list | None = None  # while a test watches: every address a socket connects to


def _audit(event, args):
    if event == "socket.connect" and _connects is not None:
        _connects.append(args[1])


sys.addaudithook(_audit)


def verify(secret: str, request: Received) -> bool:
    """Whether ``standardwebhooks`` (the Standard Webhooks reference implementation, not
    Riskscan's code) accepts ``request`` under ``secret``: one of the space-separated
    signatures of its ``webhook-signature`` is the HMAC-SHA256 of ``{id}.{timestamp}.{body}``
    under the secret, and its timestamp is within five minutes of now (the clock a test may
    move)."""
    try:
        Webhook(secret).verify(request.body, request.headers)
    except WebhookVerificationError:
        return False
    return True


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
def make_hooks_app(make_app, monkeypatch):
    """Makes an app that may send to loopback, with the keyword analyzer; its delivery
    threads and timer are stopped afterwards, so that none outlives its test."""
    made = []

    def make(**overrides):
        app = make_app(**{"WEBHOOK_ALLOWED_NETWORKS": LOOPBACK, **overrides})
        monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", KeywordAnalyzer())
        made.append(app)
        return app

    yield make
    for app in made:
        engine = app.extensions["riskscan.jobs"]
        if isinstance(engine, queue.Pool):
            engine.shutdown()


@pytest.fixture
def hooks_app(make_hooks_app):
    return make_hooks_app()


@pytest.fixture
def hooks(hooks_app):
    return Team(hooks_app, hooks_app.test_client())


@pytest.fixture
def people(team, hooks_app):
    """The console's test browsers of a ``team`` (``team = webhooks.hooks``): its owner,
    editor, viewer and outsider, each signed in."""
    return {who: Browser(hooks_app, getattr(team, who)["email"])
            for who in ("owner", "editor", "viewer", "outsider")}


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


def hear_the_service(caplog, monkeypatch) -> None:
    """Let ``caplog`` hear the service's log: "riskscan" does not propagate to the root
    logger, where caplog listens. Call it once the test's apps are made (making one sets
    the service's handlers afresh)."""
    logger = logging.getLogger("riskscan")
    monkeypatch.setattr(logger, "handlers", [*logger.handlers, caplog.handler])


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


def rows(app, webhook_id) -> list[WebhookDelivery]:
    """The webhook's deliveries as stored, oldest first."""
    with app.app_context():
        found = db.session.scalars(select(WebhookDelivery)
                                   .where(WebhookDelivery.webhook_id == webhook_id)
                                   .order_by(WebhookDelivery.created_at)).all()
        db.session.expunge_all()
        return found


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


SECRET = re.compile(r"whsec_[A-Za-z0-9+/]{43}=")


def hooks_page(team) -> str:
    return f"/app/projects/{team.id}/webhooks"


def make(browser, team, url, events=("risk.created",), *, follow=False):
    """The form on the list page, posted as the owner's browser posts it."""
    return browser.post_form(hooks_page(team), hooks_page(team),
                             {"url": url, "events": list(events)}, follow=follow)


def made(browser, team, receiver) -> tuple[str, str]:
    """A webhook made on the page: (its page's path, its secret as the page showed it)."""
    response = make(browser, team, f"{receiver.url}/hook")
    assert response.status_code == 302, text_of(response)
    page = response.headers["Location"]
    secrets = SECRET.findall(browser.page(page))
    assert len(set(secrets)) == 1, secrets
    return page, secrets[0]


def the_webhook(team) -> dict:
    [webhook] = team.client.get(f"/api/v1/projects/{team.id}/webhooks",
                                headers=team.owner_h).get_json()["items"]
    return webhook
