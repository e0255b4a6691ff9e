"""Deliveries are kept WEBHOOK_DELIVERY_RETENTION_DAYS after they settle, then deleted by the
upkeep that runs after delivery attempts (service/webhooks/retention.py); a pending one
stays however old, and the secrets a rotation replaced go once their overlap is over. The
clock is moved with time-machine, never waited on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import select, update

from service.db import Webhook, WebhookDelivery
from service.extensions import db
from service.webhooks import retention
from tests import webhooks
from tests.projects import Team, scan_into
from tests.webhooks import TWO_RISKS, create, deliveries_of, hear_the_service, rows, settled

make_hooks_app, receiver = webhooks.make_hooks_app, webhooks.receiver


def test_settled_deliveries_go_once_older_than_the_retention_and_pending_ones_stay(
        make_hooks_app, receiver):
    # No retry window: a 503 fails the delivery at once. Tokens outlive the moved clock.
    app = make_hooks_app(WEBHOOK_RETRY_HOURS=0, ACCESS_TOKEN_EXPIRE_MINUTES=40 * 24 * 60)
    team, other = Team(app, app.test_client()), Team(app, app.test_client())
    webhook = create(team, f"{receiver.url}/hook", events=["risk.created"])
    others = create(other, f"{receiver.url}/other", events=["risk.created"])
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False) as clock:
        rotated = team.client.post(
            f"/api/v1/projects/{team.id}/webhooks/{webhook['id']}/rotate-secret",
            headers=team.owner_h)
        assert rotated.status_code == 200
        receiver.answers = [204, 503]
        scan_into(team.client, team.owner_h, team.id, TWO_RISKS)
        settled(app)
        scan_into(team.client, team.owner_h, team.id, "The password is shared.")
        settled(app)
        first = {row.id: row.status for row in rows(app, webhook["id"])}
        assert sorted(first.values()) == ["delivered", "delivered", "failed"]
        # One still pending, however old: a stuck delivery is for its owner to see.
        stuck = next(d for d, status in first.items() if status == "delivered")
        with app.app_context():
            db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id == stuck)
                               .values(status="pending", next_attempt_at=start
                                       + timedelta(days=365)))
            db.session.commit()

        # Another project's deliveries run the upkeep: a minute short of the retention,
        # nothing of the first goes; the rotation's overlap is over, its old secret goes.
        clock.move_to(start + timedelta(days=30, minutes=-1))
        scan_into(other.client, other.owner_h, other.id, TWO_RISKS)
        settled(app)
        assert {row.id for row in rows(app, webhook["id"])} == set(first)
        with app.app_context():
            assert db.session.execute(
                select(Webhook.previous_secrets, Webhook.previous_secrets_until)
                .where(Webhook.id == webhook["id"])).one() == (None, None)

        clock.move_to(start + timedelta(days=30, minutes=1))
        scan_into(other.client, other.owner_h, other.id, "The password is shared.")
        settled(app)
    assert [(d["id"], d["status"]) for d in deliveries_of(team, webhook["id"])] == [
        (stuck, "pending")]
    assert len(deliveries_of(other, others["id"])) == 3  # younger than the retention


def test_an_upkeep_that_fails_changes_nothing_of_the_attempt_it_followed(
        make_hooks_app, receiver, monkeypatch, caplog):
    def fails(now, batch=retention.SWEEP_BATCH):
        raise RuntimeError("the upkeep broke")

    monkeypatch.setattr(retention, "sweep", fails)
    app = make_hooks_app()
    hear_the_service(caplog, monkeypatch)
    team = Team(app, app.test_client())
    webhook = create(team, f"{receiver.url}/hook", events=["risk.created"])
    scan_into(team.client, team.owner_h, team.id, "The vendor may slip.")
    receiver.next()
    settled(app)
    [delivery] = deliveries_of(team, webhook["id"])
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 1)
    failures = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert failures == ["the webhooks' upkeep failed"]
