"""The migrations in db/versions/, run down as well as up, on SQLite and MariaDB."""

from __future__ import annotations

import importlib

from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from service.extensions import db


def schema() -> dict:
    """Every table but alembic_version: its columns, primary key, indexes, unique
    constraints and foreign keys, in an order that does not depend on the database."""
    inspector = inspect(db.engine)
    tables = {}
    for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
        tables[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"])
                        for c in inspector.get_columns(table)],
            "primary key": inspector.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in inspector.get_indexes(table)),
            "unique": sorted((u["name"], tuple(u["column_names"]))
                             for u in inspector.get_unique_constraints(table)),
            "foreign keys": sorted((tuple(f["constrained_columns"]), f["referred_table"],
                                    tuple(f["referred_columns"]), f["options"].get("ondelete"))
                                   for f in inspector.get_foreign_keys(table)),
        }
    return tables


def revisions() -> list[str]:
    """The revisions of db/versions/, oldest first."""
    migrate = current_app.extensions["migrate"].migrate
    script = ScriptDirectory.from_config(migrate.get_config())
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def test_the_migrations_go_down_to_base_and_up_again_one_step_at_a_time(unmigrated_app):
    """upgrade → base → upgrade, one revision at a time: every downgrade() undoes its
    upgrade() exactly (a column left behind, or an index MariaDB refuses to drop because a
    foreign key needs it, fails here), and each schema built again is the one built the
    first time."""
    with unmigrated_app.app_context():
        steps = revisions()
        assert len(steps) >= 5
        built = {"base": {}}
        for revision in steps:
            upgrade(revision=revision)
            built[revision] = schema()
        assert set(built[steps[-1]]) == set(db.metadata.tables), "migrations ≠ models"

        for below in reversed(["base", *steps[:-1]]):
            downgrade(revision=below)
            assert schema() == built[below], f"downgrade to {below}"
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}

        for revision in steps:
            upgrade(revision=revision)
            assert schema() == built[revision], f"upgrade to {revision} after a downgrade"
        db.session.remove()


def test_the_projects_migration_keeps_every_scan_and_finding_up_and_down(unmigrated_app):
    """Adding scans.project_id must not rebuild the scans table on SQLite with foreign keys
    on: dropping the old table would cascade to every finding (it did, once)."""
    from sqlalchemy import text

    def counts():
        return tuple(db.session.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar()
                     for table in ("users", "scans", "findings"))

    with unmigrated_app.app_context():
        upgrade(revision="7c1e5a9b2d40")
        db.session.execute(text(
            "INSERT INTO users (id, email, password_hash, role, active, token_version, "
            "created_at, updated_at) VALUES ('u', 'u@example.com', 'x', 'user', 1, 0, "
            "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
        db.session.execute(text(
            "INSERT INTO scans (id, user_id, source, model_version, text_length, dropped, "
            "created_at) VALUES ('s', 'u', 'model', 'v', 1, 0, '2026-01-01 00:00:00')"))
        db.session.execute(text(
            "INSERT INTO findings (scan_id, position, risk, category, context, start_offset, "
            "end_offset) VALUES ('s', 0, 'r', 'budget', 'c', 0, 1)"))
        db.session.commit()
        upgrade(revision="b6ced9db2355")
        assert counts() == (1, 1, 1)
        db.session.commit()
        downgrade(revision="7c1e5a9b2d40")
        assert counts() == (1, 1, 1)
        db.session.remove()


def test_the_missed_and_possible_findings_migration_keeps_every_row_up_and_down(
        unmigrated_app):
    """Existing findings become the model's, not near misses; existing scans have no text
    (a risk cannot be added to them: 409) and existing jobs asked for no near misses. No
    table is rebuilt on the way down: every scan, finding and link stays."""
    from sqlalchemy import text

    def counts():
        return tuple(db.session.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar()
                     for table in ("users", "scans", "findings", "jobs"))

    with unmigrated_app.app_context():
        upgrade(revision="c4f8e2a6b913")
        db.session.execute(text(
            "INSERT INTO users (id, email, password_hash, role, active, token_version, "
            "created_at, updated_at) VALUES ('u', 'u@example.com', 'x', 'user', 1, 0, "
            "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
        db.session.execute(text(
            "INSERT INTO scans (id, user_id, source, model_version, text_length, dropped, "
            "created_at) VALUES ('s', 'u', 'model', 'v', 1, 0, '2026-01-01 00:00:00')"))
        db.session.execute(text(
            "INSERT INTO findings (scan_id, position, risk, category, context, score, "
            "start_offset, end_offset) VALUES ('s', 0, 'r', 'budget', 'c', 0.9, 0, 1)"))
        db.session.execute(text(
            "INSERT INTO jobs (id, user_id, force_llm, status, total, done, failed, "
            "created_at) VALUES ('j', 'u', 0, 'done', 1, 1, 0, '2026-01-01 00:00:00')"))
        db.session.commit()
        upgrade(revision="c4d8e2f1a7b3")
        assert counts() == (1, 1, 1, 1)
        assert tuple(db.session.execute(text(
            "SELECT added_by_user, possible FROM findings")).one()) == (0, 0)
        assert db.session.execute(text("SELECT text FROM scans")).scalar() is None
        assert tuple(db.session.execute(text(
            "SELECT include_possible, possible_floor FROM jobs")).one()) == (0, None)
        db.session.commit()
        downgrade(revision="c4f8e2a6b913")
        assert counts() == (1, 1, 1, 1)


REPORT_DATES, CURATED = "e5b1c7d9a2f4", "f2a8d4c6b1e3"


def test_the_report_dates_migration_dates_every_scan_by_its_upload_day(unmigrated_app):
    """Scans stored before ``reported_on`` were reported on the day they were uploaded; the
    register's dates become those days (the times dropped), and nothing is lost up or
    down."""
    from datetime import date, datetime

    from sqlalchemy import text

    stamp = "2026-03-14 22:30:05"
    rows = {
        "users": "INSERT INTO users (id, email, password_hash, role, active, token_version, "
                 f"created_at, updated_at) VALUES ('u', 'u@example.com', 'x', 'user', 1, 0, "
                 f"'{stamp}', '{stamp}')",
        "projects": "INSERT INTO projects (id, name, created_at, updated_at, register_version) "
                    f"VALUES ('p', 'P', '{stamp}', '{stamp}', 1)",
        "scans": "INSERT INTO scans (id, user_id, project_id, source, model_version, "
                 f"text_length, dropped, created_at) VALUES ('s', 'u', 'p', 'model', 'v', 1, 0, "
                 f"'{stamp}')",
        "findings": "INSERT INTO findings (id, scan_id, position, risk, category, context, "
                    "start_offset, end_offset) VALUES (1, 's', 0, 'r', 'budget', 'c', 0, 1)",
        "register_entries": "INSERT INTO register_entries (id, project_id, risk, category, "
                            "status, first_seen, last_seen, occurrences, reopened, created_at, "
                            f"updated_at) VALUES (1, 'p', 'r', 'budget', 'open', '{stamp}', "
                            f"'{stamp}', 1, 0, '{stamp}', '{stamp}')",
        "register_vectors": "INSERT INTO register_vectors (entry_id, total) VALUES (1, 'v')",
        "register_links": "INSERT INTO register_links (finding_id, entry_id, scan_id, seen_at, "
                          f"embedding) VALUES (1, 1, 's', '{stamp}', 'v')",
    }

    def counts():
        return tuple(db.session.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar()
                     for table in rows)

    def value(sql):
        return db.session.execute(text(sql)).scalar()

    def day(value):  # SQLite hands back the stored text, MariaDB a date or datetime
        return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])

    with unmigrated_app.app_context():
        upgrade(revision="a7c3e91f5b42")
        for sql in rows.values():
            db.session.execute(text(sql))
        db.session.commit()
        upgrade(revision=REPORT_DATES)
        assert counts() == (1,) * len(rows)
        assert day(value("SELECT reported_on FROM scans")) == date(2026, 3, 14)
        for sql in ("SELECT seen_at FROM register_links",
                    "SELECT first_seen FROM register_entries",
                    "SELECT last_seen FROM register_entries"):
            stored = value(sql)
            stored = stored if isinstance(stored, datetime) else datetime.fromisoformat(stored)
            assert stored == datetime(2026, 3, 14), sql
        db.session.commit()
        upgrade(revision=CURATED)  # one wording each, none added by hand
        assert value("SELECT wording FROM register_links") == 0
        assert not value("SELECT added_by_user FROM register_entries")
        db.session.commit()
        downgrade(revision="a7c3e91f5b42")
        assert counts() == (1,) * len(rows)


def test_the_webhook_rotation_migration_keeps_every_webhook_and_delivery_up_and_down(
        unmigrated_app):
    """Dropping the rotation's columns rebuilds webhooks on SQLite: with foreign keys on,
    the old table's drop would cascade to its deliveries."""
    from sqlalchemy import text

    def kept():
        rows = (db.session.execute(text("SELECT id, secret FROM webhooks")).all(),
                db.session.execute(text("SELECT id, webhook_id FROM webhook_deliveries")).all())
        db.session.commit()  # MariaDB: an open read holds the metadata lock ALTER waits on
        return rows

    with unmigrated_app.app_context():
        upgrade(revision="e8a1c5d3f207")
        at = "'2026-01-01 00:00:00'"
        for statement in (
                ("INSERT INTO projects (id, name, created_at, updated_at, register_version) "
                 f"VALUES ('p', 'P', {at}, {at}, 0)"),
                ("INSERT INTO webhooks (id, project_id, url, events, secret, active, "
                 "created_at, updated_at) VALUES ('w', 'p', 'https://example.com/', '[]', "
                 f"'whsec_s', 1, {at}, {at})"),
                ("INSERT INTO webhook_deliveries (id, webhook_id, event, body, status, "
                 "attempts, created_at, retry_until) VALUES ('d', 'w', 'risk.created', '{}', "
                 f"'delivered', 1, {at}, {at})")):
            db.session.execute(text(statement))
        db.session.commit()
        before = kept()
        assert before == ([("w", "whsec_s")], [("d", "w")])
        upgrade(revision="c4f1a7e9d2b6")
        db.session.execute(text("UPDATE webhooks SET previous_secrets = '[\"whsec_o\"]', "
                                f"previous_secrets_until = {at}"))
        db.session.commit()
        assert kept() == before
        downgrade(revision="e8a1c5d3f207")
        assert kept() == before
        db.session.remove()


def test_the_titles_migration_names_every_scan_that_kept_its_text(unmigrated_app):
    """Scans stored before scans.title get theirs from their text, in batches (more scans
    than one batch here), as a new scan would (title_of); a scan stored before scans kept
    their text has none, and no scan or finding is lost up or down."""
    from sqlalchemy import text

    migration = importlib.import_module("db.versions.c53529acec3d_scan_titles")
    from service.scans.titles import title_of

    at = "'2026-01-01 00:00:00'"
    texts = {f"s{number:04}": f"Report {number}\nThe vendor may slip." for number in
             range(migration.BATCH + 2)}
    texts["heading"] = "Weekly notes\n\n## Risks ##\n" + "x " * 5000
    texts["legacy"] = None

    def count(table):
        return db.session.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar()

    with unmigrated_app.app_context():
        upgrade(revision="b2d7e4a9c1f6")
        db.session.execute(text(
            "INSERT INTO users (id, email, password_hash, role, active, token_version, "
            f"created_at, updated_at) VALUES ('u', 'u@example.com', 'x', 'user', 1, 0, {at}, "
            f"{at})"))
        db.session.execute(text(
            "INSERT INTO scans (id, user_id, source, model_version, text_length, dropped, "
            f"created_at, text) VALUES (:id, 'u', 'model', 'v', 1, 0, {at}, :text)"),
            [{"id": scan_id, "text": stored} for scan_id, stored in texts.items()])
        db.session.execute(text(
            "INSERT INTO findings (id, scan_id, position, risk, category, context, "
            "start_offset, end_offset) VALUES (1, 'legacy', 0, 'r', 'vendor', 'c', 0, 1)"))
        db.session.commit()
        upgrade(revision="c53529acec3d")
        named = dict(db.session.execute(text("SELECT id, title FROM scans")).all())
        db.session.commit()
        assert named == {scan_id: title_of(stored) for scan_id, stored in texts.items()}
        assert named["heading"] == "Risks" and named["s0501"] == "Report 501"
        assert named["legacy"] is None
        downgrade(revision="b2d7e4a9c1f6")
        assert (count("scans"), count("findings")) == (len(texts), 1)
        db.session.remove()


IDS_NEVER_REUSED = "b9d4e1f7a3c5"


def test_the_ids_migration_keeps_every_row_and_gives_no_id_again(unmigrated_app):
    """Rebuilding the numbered tables AUTOINCREMENT on SQLite keeps every row and every row
    that references them (with foreign keys on, dropping the old findings table would
    cascade to the register's links); afterwards a deleted newest row's id, and a merged-away
    entry's that still redirects, are not given again. On MariaDB nothing changes."""
    from sqlalchemy import text

    at = "'2026-01-01 00:00:00'"
    entry = ("INSERT INTO register_entries (id, project_id, risk, category, status, "
             "first_seen, last_seen, occurrences, reopened, created_at, updated_at) VALUES "
             f"(:id, 'p', 'r', 'budget', 'open', {at}, {at}, 1, 0, {at}, {at})")
    finding = ("INSERT INTO findings (id, scan_id, position, risk, category, context, "
               "start_offset, end_offset) VALUES (:id, 's', 0, 'r', 'budget', 'c', 0, 1)")
    rows = {
        "users": "INSERT INTO users (id, email, password_hash, role, active, token_version, "
                 f"created_at, updated_at) VALUES ('u', 'u@example.com', 'x', 'user', 1, 0, "
                 f"{at}, {at})",
        "projects": "INSERT INTO projects (id, name, created_at, updated_at, register_version) "
                    f"VALUES ('p', 'P', {at}, {at}, 1)",
        "scans": "INSERT INTO scans (id, user_id, project_id, source, model_version, "
                 f"text_length, dropped, created_at) VALUES ('s', 'u', 'p', 'model', 'v', 1, 0, "
                 f"{at})",
        "register_vectors": "INSERT INTO register_vectors (entry_id, total) VALUES (1, 'v')",
        "register_links": "INSERT INTO register_links (finding_id, entry_id, scan_id, seen_at, "
                          f"embedding) VALUES (1, 1, 's', {at}, 'v')",
        "register_merges": "INSERT INTO register_merges (merged_id, project_id, into_id, "
                           f"merged_at) VALUES (3, 'p', 1, {at})",
        # "read" is a reserved word on MySQL: quoted by the backend's rules below.
        "shadow_trials": "INSERT INTO shadow_trials (id, version, sample_rate, scan_limit, "
                         f"{{read}}, skipped, started_at) VALUES (1, 'v', 1.0, 10, 1, 0, {at})",
        "shadow_readings": "INSERT INTO shadow_readings (id, trial_id, scan_id, active_version, "
                           "sentences, agreed, disagreements, created_at) VALUES (1, 1, 's', "
                           f"'v', 1, 1, '[]', {at})",
    }

    def value(sql):
        return db.session.execute(text(sql)).scalar()

    def counts():
        return {table: value(f"SELECT COUNT(*) FROM {table}")
                for table in ("findings", "register_entries", *rows)}

    with unmigrated_app.app_context():
        upgrade(revision="a7c3e9f1b5d2")
        db.session.execute(text(rows["users"]))
        db.session.execute(text(rows["projects"]))
        db.session.execute(text(rows["scans"]))
        db.session.execute(text(finding), [{"id": 1}, {"id": 2}])
        # Entry 3 was merged into 1 (its row deleted) and still redirects.
        db.session.execute(text(entry), [{"id": 1}, {"id": 2}, {"id": 3}])
        db.session.execute(text("DELETE FROM register_entries WHERE id = 3"))
        read = db.engine.dialect.identifier_preparer.quote("read")
        for table, sql in rows.items():
            if table not in ("users", "projects", "scans"):
                db.session.execute(text(sql.replace("{read}", read)))
        db.session.commit()
        before = counts()
        assert before["findings"] == 2 and before["register_links"] == 1
        db.session.commit()
        upgrade(revision=IDS_NEVER_REUSED)
        assert counts() == before
        db.session.execute(text("DELETE FROM findings WHERE id = 2"))
        db.session.execute(text(
            "INSERT INTO findings (scan_id, position, risk, category, context, start_offset, "
            "end_offset) VALUES ('s', 1, 'r', 'budget', 'c', 0, 1)"))
        assert value("SELECT MAX(id) FROM findings") == 3
        db.session.execute(text(
            "INSERT INTO register_entries (project_id, risk, category, status, first_seen, "
            "last_seen, occurrences, reopened, created_at, updated_at) VALUES "
            f"('p', 'r', 'budget', 'open', {at}, {at}, 0, 0, {at}, {at})"))
        assert value("SELECT MAX(id) FROM register_entries") == 4
        db.session.commit()
        downgrade(revision="a7c3e9f1b5d2")
        assert value("SELECT COUNT(*) FROM register_links") == 1
        db.session.remove()
