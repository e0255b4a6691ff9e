"""where a scan's report date came from

Revision ID: e4c8a2f6d0b7
Revises: c7e2a9d4f1b8
Create Date: 2026-11-27 17:15:00

A scan sent without a date is dated by its document (its title or first lines), else its
file name, else the upload day (service/scans/report_dates.py); the scan keeps which, so
that the console can say "found in the document" beside a date a person may want to
correct. Scans stored before say nothing (NULL): which rule dated them is not known.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e4c8a2f6d0b7'
down_revision = 'c7e2a9d4f1b8'
branch_labels = None
depends_on = None


def upgrade():
    # An added column, no rebuild (a rebuild of scans on SQLite, with foreign keys on,
    # would take the rows that reference it along: b9d4e1f7a3c5 says how).
    op.add_column('scans', sa.Column('reported_on_from', sa.String(length=10), nullable=True))


def downgrade():
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:  # the rebuild below must not cascade into the rows that reference scans
        _foreign_keys('OFF')
    with op.batch_alter_table('scans') as batch:
        batch.drop_column('reported_on_from')
    if sqlite:
        _foreign_keys('ON')


def _foreign_keys(state: str) -> None:
    """Foreign keys on or off, outside a transaction (where SQLite honours the pragma)."""
    with op.get_context().autocommit_block():
        op.execute(f'PRAGMA foreign_keys={state}')
