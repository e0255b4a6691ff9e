"""missed and possible findings

Revision ID: c4d8e2f1a7b3
Revises: c4f8e2a6b913
Create Date: 2026-11-26 16:00:00

A scan keeps its analysed text (scans.text: a risk the model missed is added by offsets
into it; NULL for the scans before); a finding says whether a person added it
(findings.added_by_user) and whether it is a near miss not yet confirmed
(findings.possible); a batch job asks for the near misses of its documents
(jobs.include_possible, jobs.possible_floor). Existing rows are the model's findings, not
possible, and jobs that did not ask.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# revision identifiers, used by Alembic.
revision = 'c4d8e2f1a7b3'
down_revision = 'c4f8e2a6b913'
branch_labels = None
depends_on = None

TEXT = sa.Text().with_variant(mysql.LONGTEXT(), 'mysql', 'mariadb')


def upgrade():
    # Not batch (table-copying) operations: SQLite adds a column in place, and rebuilding
    # scans or findings would drop the old table, which with foreign keys on deletes every
    # row that references it (ON DELETE CASCADE).
    op.add_column('scans', sa.Column('text', TEXT, nullable=True))
    op.add_column('findings', sa.Column('added_by_user', sa.Boolean(), nullable=False,
                                        server_default=sa.false()))
    op.add_column('findings', sa.Column('possible', sa.Boolean(), nullable=False,
                                        server_default=sa.false()))
    op.add_column('jobs', sa.Column('include_possible', sa.Boolean(), nullable=False,
                                    server_default=sa.false()))
    op.add_column('jobs', sa.Column('possible_floor', sa.Float(), nullable=True))


def downgrade():
    # SQLite (3.35 and later) drops a column that no index, key or constraint names in
    # place: no table is rebuilt, so nothing cascades.
    op.drop_column('jobs', 'possible_floor')
    op.drop_column('jobs', 'include_possible')
    op.drop_column('findings', 'possible')
    op.drop_column('findings', 'added_by_user')
    op.drop_column('scans', 'text')
