"""ids never reused

Revision ID: b9d4e1f7a3c5
Revises: a7c3e9f1b5d2
Create Date: 2026-11-27 09:30:00

SQLite hands the id of a deleted last row to the next row, unless the table is declared
AUTOINCREMENT: a deleted finding's id then named another finding in the audit log and the
webhooks, and a merged-away entry's id opened another risk. Every table keyed by an integer
the database numbers is rebuilt AUTOINCREMENT on SQLite (SQLite cannot alter a table's key
in place). The sequence starts above the highest id the register's merges still name, so
that a merged-away entry's id, already gone, is not given again either.

MySQL and MariaDB: nothing to do. InnoDB's AUTO_INCREMENT never goes back on a delete, and
since MariaDB 10.2.4 and MySQL 8 not on a restart either.

The rebuild copies every row with its id. Dropping the old table would cascade to the rows
that reference it (register links, readings) with foreign keys on, so they are off while it
runs: SQLite ignores that pragma inside a transaction, so it is set between two (an earlier
migration of the same run may have written rows).
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'b9d4e1f7a3c5'
down_revision = 'a7c3e9f1b5d2'
branch_labels = None
depends_on = None

# Parents before the tables that reference them: none of them references a later one.
TABLES = ('findings', 'register_entries', 'dismissals', 'audit_events', 'llm_calls',
          'idempotency_keys', 'job_documents', 'shadow_trials', 'shadow_readings',
          'refresh_tokens')


def upgrade():
    if op.get_bind().dialect.name != 'sqlite':
        return
    _foreign_keys('OFF')
    for table in TABLES:
        with op.batch_alter_table(table, recreate='always',
                                  table_kwargs={'sqlite_autoincrement': True}):
            pass
    # The copy set register_entries' sequence to its highest id; a merged-away entry above
    # it still answers a redirect (register_merges) and must not be numbered again.
    op.execute(sa.text(
        "UPDATE sqlite_sequence SET seq = MAX(seq, (SELECT COALESCE(MAX(merged_id), 0) "
        "FROM register_merges)) WHERE name = 'register_entries'"))
    op.execute(sa.text(
        "INSERT INTO sqlite_sequence (name, seq) SELECT 'register_entries', MAX(merged_id) "
        "FROM register_merges WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence "
        "WHERE name = 'register_entries') HAVING MAX(merged_id) IS NOT NULL"))
    _foreign_keys('ON')


def downgrade():
    # Nothing to undo: the schema before this revision works on AUTOINCREMENT tables as it
    # did, and rebuilding them to forget it would only give deleted ids out again.
    pass


def _foreign_keys(state: str) -> None:
    """Foreign keys on or off, outside a transaction (where SQLite honours the pragma)."""
    with op.get_context().autocommit_block():
        op.execute(f'PRAGMA foreign_keys={state}')
