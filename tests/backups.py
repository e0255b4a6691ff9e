"""What the backup tests share (service/backup/): deployments of their own, made and read as
their people make and read them, and the two commands run as an operator runs them.

A deployment here is an app on a database, an uploads folder and a models root that the
test made (never the session's shared database: a backup reads every table). ``populate``
gives it what a team leaves in a deployment (accounts, a project with members, scans with
findings and an original file, a correction, a deleted finding, register entries one of
which was merged into another, an API key, a webhook, an activated model version), and
``answers`` reads back, as those people, everything a restore must give back the same.
"""

from __future__ import annotations

import dataclasses
import io
import ipaddress
import os
from pathlib import Path
from unittest import mock

from flask import Flask
from flask_migrate import upgrade

from service import create_app, shutdown
from service.config import Settings
from service.extensions import db
from tests.helpers import Accounts, api_key_headers
from tests.projects import add_member, make_project, register_of, scan_into

SECRET_KEY = "backup-test-secret-key-0123456789"
#: Sentences the test model (v1) reports, as tests/registry.py's scans use them.
TEXT = ("The supplier may deliver the servers three weeks late. The team met on Tuesday. "
        "Lunch was at noon. The weather was nice. The budget may be cut again next quarter.")
NEUTRAL = ("The team met on Tuesday.", "Lunch was at noon.", "The weather was nice.")
UPLOADED = b"The vendor may not deliver the licences before the cut-over.\n"


def deployment_settings(folder: Path, database_url: str, models: Path | None,
                        **overrides) -> Settings:
    """A deployment's settings: its database, its uploads under ``folder``, its models root
    (None: the model off)."""
    return Settings.from_env(
        {}, RISKSCAN_ENV="testing", SECRET_KEY=SECRET_KEY, DATABASE_URL=database_url,
        LOG_FORMAT="text", LOG_LEVEL="WARNING", MODEL_SYNC_S=0,
        MODEL_DIR=str(models) if models is not None else "off",
        UPLOAD_DIR=str(folder / "uploads"),
        WEBHOOK_ALLOWED_NETWORKS=(ipaddress.ip_network("127.0.0.0/8"),),
        **overrides)


def serve(settings: Settings, *, migrate: bool = False) -> Flask:
    """The deployment's app as ``python -m service`` serves it, warm; ``migrate``: build
    its schema first, as the entrypoint does."""
    app = create_app(settings)
    app.config["TESTING"] = True
    assert app.extensions["riskscan.warmup"].done.wait(600), "the warm-up never ended"
    if migrate:
        with app.app_context():
            upgrade()
            db.session.remove()
    return app


def stop(app: Flask) -> None:
    shutdown(app)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def command_app(settings: Settings) -> Flask:
    """The app ``flask --app service`` builds for a command, from the environment these
    settings are read from: it serves nothing and builds no model."""
    environment = {
        "RISKSCAN_ENV": settings.RISKSCAN_ENV, "SECRET_KEY": settings.SECRET_KEY,
        "DATABASE_URL": settings.DATABASE_URL, "UPLOAD_DIR": settings.UPLOAD_DIR,
        "MODEL_DIR": settings.MODEL_DIR, "LOG_LEVEL": "WARNING", "LOG_FORMAT": "text"}
    with mock.patch.dict(os.environ, environment):
        return create_app()


def run(app: Flask, *args: str):
    """A flask command in ``app``, as the CLI runs it: click's result (exit_code, output,
    stderr)."""
    return app.test_cli_runner().invoke(args=list(args))


def restore_into(settings: Settings, archive: Path):
    """``flask restore`` in a command app on ``settings``: the result."""
    app = command_app(settings)
    try:
        return run(app, "restore", str(archive))
    finally:
        stop(app)


@dataclasses.dataclass
class People:
    """Who made the deployment, their credentials (still valid after a restore: the
    settings, SECRET_KEY among them, are the operator's), and the ids to read back."""

    owner_h: dict
    editor_h: dict
    viewer_h: dict
    admin_h: dict
    key_h: dict
    project_id: str
    scans: list[str]
    uploaded_scan: str
    deleted_finding: int
    merged_risk: int
    kept_risk: int
    unreported: str  # a sentence of TEXT no finding holds: one a person may add


def populate(app: Flask, *, activate: str | None = None) -> People:
    """Fill the deployment through its API as a team would (module docstring);
    ``activate``: the model version an admin activates at the end."""
    client = app.test_client()
    accounts = Accounts(app, client)
    _, owner_h = accounts.user()
    editor, editor_h = accounts.user()
    viewer, viewer_h = accounts.user()
    _, admin_h = accounts.user(role="admin")
    project = make_project(client, owner_h)
    add_member(client, owner_h, project["id"], editor["email"], "editor")
    add_member(client, owner_h, project["id"], viewer["email"], "viewer")
    scans = [scan_into(client, editor_h, project["id"], TEXT, reported_on="2026-03-06")]
    uploaded = client.post("/api/v1/scans", headers=editor_h, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(UPLOADED), "minutes.txt"),
                                 "project_id": project["id"]})
    assert uploaded.status_code == 201, uploaded.get_json()
    scans.append(uploaded.get_json())
    first = scans[0]
    assert first["data"], "the model finds no risk in TEXT"
    corrected = client.patch(f"/api/v1/scans/{first['scan_id']}/findings/"
                             f"{first['data'][0]['id']}", headers=editor_h,
                             json={"category": "schedule"})
    assert corrected.status_code == 200, corrected.get_json()
    unreported = next(sentence for sentence in NEUTRAL
                      if sentence not in {finding["risk"] for finding in first["data"]})
    deleted = add_finding(client, editor_h, first["scan_id"], unreported)
    gone = client.delete(f"/api/v1/scans/{first['scan_id']}/findings/{deleted}",
                         headers=editor_h)
    assert gone.status_code == 204
    kept = _add_risk(client, editor_h, project["id"], "The sponsor may not approve the budget.")
    merged = _add_risk(client, editor_h, project["id"],
                       "The steering committee may not approve the budget.")
    answer = client.post(f"/api/v1/projects/{project['id']}/risks/{kept}/merge",
                         json={"from": [merged]}, headers=editor_h)
    assert answer.status_code == 200, answer.get_json()
    key_h = api_key_headers(client, owner_h, "scans:read", "projects:read")
    assert client.get("/api/v1/scans", headers=key_h).status_code == 200  # its use recorded
    hook = client.post(f"/api/v1/projects/{project['id']}/webhooks", headers=owner_h,
                       json={"url": "http://127.0.0.1:9/riskscan", "events": ["risk.created"]})
    assert hook.status_code == 201, hook.get_json()
    if activate is not None:
        activated = client.post(f"/api/v1/admin/models/{activate}/activate", headers=admin_h)
        assert activated.status_code == 200, activated.get_json()
    return People(owner_h, editor_h, viewer_h, admin_h, key_h, project["id"],
                  [scan["scan_id"] for scan in scans], scans[1]["scan_id"], deleted, merged,
                  kept, unreported)


def populate_small(app: Flask) -> None:
    """A user and one scan of an uploaded file, read by the keyword stand-in."""
    from tests.scanning import KeywordAnalyzer

    app.extensions["riskscan.analyzers"].model = KeywordAnalyzer()
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    uploaded = client.post("/api/v1/scans", headers=headers, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(UPLOADED), "minutes.txt")})
    assert uploaded.status_code == 201, uploaded.get_json()


def add_finding(client, headers, scan_id, sentence) -> int:
    """A risk the model missed, added by a person: the finding's id."""
    start = TEXT.index(sentence)
    added = client.post(f"/api/v1/scans/{scan_id}/findings", headers=headers,
                        json={"start": start, "end": start + len(sentence),
                              "category": "stakeholder"})
    assert added.status_code == 201, added.get_json()
    return added.get_json()["id"]


def _add_risk(client, headers, project_id, risk) -> int:
    added = client.post(f"/api/v1/projects/{project_id}/risks", headers=headers,
                        json={"risk": risk, "category": "budget"})
    assert added.status_code == 201, added.get_json()
    return added.get_json()["id"]


def answers(app: Flask, people: People) -> dict:
    """Everything the deployment answers its people that a restore must give back, by
    what a person asks."""
    client = app.test_client()
    found = {}

    def get(label, path, headers, **query):
        response = client.get(path, headers=headers, query_string=query)
        body = response.get_json() if response.is_json else response.get_data()
        if isinstance(body, dict):
            body.pop("request_id", None)  # each request's own
        response.close()  # a file's answer holds the file open until then
        found[label] = (response.status_code, response.headers.get("Location"), body)
        return body

    project = f"/api/v1/projects/{people.project_id}"
    get("scans", "/api/v1/scans", people.owner_h, per_page=100)
    for scan_id in people.scans:
        get(f"scan {scan_id}", f"/api/v1/scans/{scan_id}", people.editor_h)
    get("original", f"/api/v1/scans/{people.uploaded_scan}/file", people.editor_h)
    get("findings", "/api/v1/findings", people.owner_h, project_id=people.project_id,
        per_page=100)
    for entry in register_of(client, people.viewer_h, people.project_id):
        get(f"history {entry['id']}", f"{project}/risks/{entry['id']}/history", people.viewer_h)
    get("register", f"{project}/risks", people.viewer_h, per_page=100)
    get("merged away", f"{project}/risks/{people.merged_risk}", people.viewer_h)
    get("changes", f"{project}/changes", people.viewer_h)
    get("members", f"{project}/members", people.owner_h)
    get("webhooks", f"{project}/webhooks", people.owner_h)
    get("keys", "/api/v1/auth/api-keys", people.owner_h)
    get("by key", "/api/v1/scans", people.key_h, per_page=100)
    get("audit", "/api/v1/admin/audit-events", people.admin_h, per_page=100)
    get("models", "/api/v1/admin/models", people.admin_h)
    return found
