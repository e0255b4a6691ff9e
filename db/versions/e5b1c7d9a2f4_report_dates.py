"""report dates

Revision ID: e5b1c7d9a2f4
Revises: c4d8e2f1a7b3
Create Date: 2026-11-26 17:00:00

A scan carries the date of the report it read (scans.reported_on; a job's document the
date its scan will take, job_documents.reported_on), and the register dates and orders
reports by it. Scans stored before were reported on the day they were uploaded (UTC); the
register's dates (links' seen_at, entries' first and last seen) become those days at
midnight, which a downgrade leaves as they are (the upload times are not kept).
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e5b1c7d9a2f4'
down_revision = 'c4d8e2f1a7b3'
branch_labels = None
depends_on = None

DATED = (('register_links', 'seen_at'), ('register_entries', 'first_seen'),
         ('register_entries', 'last_seen'))


def upgrade():
    # Not batch (table-copying) operations: SQLite adds a column in place, and rebuilding
    # scans would drop the old table, which with foreign keys on deletes every row that
    # references it (ON DELETE CASCADE).
    op.add_column('scans', sa.Column('reported_on', sa.Date(), nullable=True))
    op.execute('UPDATE scans SET reported_on = DATE(created_at)')
    op.create_index('ix_scans_project_id_reported_on', 'scans',
                    ['project_id', 'reported_on', 'created_at'], unique=False)
    op.add_column('job_documents', sa.Column('reported_on', sa.Date(), nullable=True))
    # Midnight of the day, written as each backend stores a DATETIME (SQLite: the text
    # SQLAlchemy writes; MariaDB converts a DATE).
    midnight = ("strftime('%Y-%m-%d 00:00:00.000000', {})"
                if op.get_bind().dialect.name == 'sqlite' else 'DATE({})')
    for table, column in DATED:
        op.execute(f'UPDATE {table} SET {column} = {midnight.format(column)}')


def downgrade():
    # SQLite (3.35 and later) drops a column that no index, key or constraint names in
    # place: no table is rebuilt, so nothing cascades.
    op.drop_column('job_documents', 'reported_on')
    op.drop_index('ix_scans_project_id_reported_on', table_name='scans')
    op.drop_column('scans', 'reported_on')
