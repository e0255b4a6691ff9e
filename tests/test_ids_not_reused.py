"""Ids are never given again, on SQLite as on MariaDB: audit events, webhooks and links name
findings and register entries by their id, so a deleted one's id must not come to name
another. SQLite gave the id of a deleted last row to the next row until its tables were
declared AUTOINCREMENT (db/versions/b9d4e1f7a3c5)."""

from __future__ import annotations

from sqlalchemy import text

from service.extensions import db
from service.projects.register.entry_events import DELETED_WORDING
from tests.console_browser import Browser
from tests.curating import merge
from tests.projects import register_of, scan_into

TEXT = ("The vendor may slip the delivery. The steering committee has not met since March. "
        "Two of our three testers leave in May.")
COMMITTEE = "The steering committee has not met since March."
TESTERS = "Two of our three testers leave in May."


def add(client, headers, scan_id, sentence, category="stakeholder"):
    start = TEXT.index(sentence)
    response = client.post(f"/api/v1/scans/{scan_id}/findings", headers=headers,
                           json={"start": start, "end": start + len(sentence),
                                 "category": category})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def add_risk(client, team, risk, category="stakeholder"):
    response = client.post(f"/api/v1/projects/{team.id}/risks", headers=team.editor_h,
                           json={"risk": risk, "category": category})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_deleted_findings_id_names_no_later_finding(team, client):
    """The newest finding deleted, the next one added gets an id of its own: the audit
    event of the deletion still names only the deleted one."""
    scan = scan_into(client, team.owner_h, team.id, TEXT)
    path = f"/api/v1/scans/{scan['scan_id']}/findings"
    deleted = add(client, team.editor_h, scan["scan_id"], COMMITTEE)
    assert client.delete(f"{path}/{deleted['id']}", headers=team.editor_h).status_code == 204
    later = add(client, team.editor_h, scan["scan_id"], TESTERS, category="resource")
    assert later["id"] != deleted["id"]
    assert client.get(f"{path}/{deleted['id']}", headers=team.owner_h).status_code == 404


def test_a_merged_away_risks_id_opens_no_other_risk(team, client):
    """The newest entry merged into another, the next entry gets an id of its own, and the
    merged id still leads to the risk it was merged into."""
    kept = add_risk(client, team, "The steering committee may not approve the budget.")
    newest = add_risk(client, team, "The sponsor may not approve the budget.")
    merged = merge(client, team, kept["id"], [newest["id"]])
    assert merged.status_code == 200, merged.get_json()
    later = add_risk(client, team, "The data centre lease ends in June.", category="technical")
    assert later["id"] not in (kept["id"], newest["id"])
    answer = client.get(f"/api/v1/projects/{team.id}/risks/{newest['id']}",
                        headers=team.viewer_h)
    assert answer.status_code == 301
    assert answer.headers["Location"].endswith(f"/risks/{kept['id']}")
    assert {e["id"] for e in register_of(client, team.owner_h, team.id)} == {
        kept["id"], later["id"]}


def test_a_withdrawn_risks_id_names_no_later_risk(team, client):
    """The newest entry, withdrawn with the one report that stated it (never deleted: its
    history stays), and the next entry gets an id of its own: the withdrawn id answers the
    same risk, in the API and the console, never another; a merged-away id still leads to
    the risk it was merged into, whatever came after."""
    kept = add_risk(client, team, "The steering committee may not approve the budget.")
    merged_away = add_risk(client, team, "The sponsor may not approve the budget.")
    assert merge(client, team, kept["id"], [merged_away["id"]]).status_code == 200
    scan = scan_into(client, team.editor_h, team.id, "The vendor may slip the delivery.")
    (withdrawn,) = [e for e in register_of(client, team.owner_h, team.id)
                    if e["id"] != kept["id"]]
    assert withdrawn["id"] > merged_away["id"]  # the newest
    assert client.delete(f"/api/v1/scans/{scan['scan_id']}",
                         headers=team.editor_h).status_code == 204
    later = add_risk(client, team, "The data centre lease ends in June.", category="technical")
    assert later["id"] > withdrawn["id"]
    risks = f"/api/v1/projects/{team.id}/risks"
    same = client.get(f"{risks}/{withdrawn['id']}", headers=team.viewer_h).get_json()
    # Its report deleted, its wording is the register's placeholder (docs/register.md).
    assert (same["id"], same["risk"], same["occurrences"]) == (
        withdrawn["id"], DELETED_WORDING, 0)
    viewer = Browser(team.client.application, team.viewer["email"])
    assert DELETED_WORDING in viewer.page(f"/app/projects/{team.id}/risks/{withdrawn['id']}")
    moved = viewer.get(f"/app/projects/{team.id}/risks/{merged_away['id']}")
    assert moved.headers["Location"] == f"/app/projects/{team.id}/risks/{kept['id']}"
    assert {e["id"] for e in register_of(client, team.owner_h, team.id)} == {
        kept["id"], later["id"]}


def test_every_table_the_database_numbers_is_autoincrement_on_sqlite(app):
    """Every table keyed by one integer the database numbers declares sqlite_autoincrement,
    and the migrations built it so: a new table, or a migration that rebuilds one without
    ``table_kwargs={"sqlite_autoincrement": True}``, fails here."""
    numbered = {table.name for table in db.metadata.sorted_tables
                if table.autoincrement_column is not None}
    assert {"findings", "register_entries", "dismissals", "audit_events"} <= numbered
    undeclared = sorted(name for name in numbered
                        if not db.metadata.tables[name].dialect_options["sqlite"]["autoincrement"])
    assert undeclared == []
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            return  # InnoDB's AUTO_INCREMENT never goes back
        created = dict(db.session.execute(text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table'")).all())
        db.session.remove()
    assert sorted(name for name in numbered if "AUTOINCREMENT" not in created[name]) == []
