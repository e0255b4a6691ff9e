"""corrections reviewed before they teach

Revision ID: c7e2a9d4f1b8
Revises: b9d4e1f7a3c5
Create Date: 2026-11-27 10:00:00

A correction teaches a model only once a reviewer accepts it (service/serving/corrections.py):
each corrected finding gets its review state, who decided and when. The corrections made
before wait for a review, except an admin's own, which an admin would have accepted; a
training records who contributed its rows.
"""
import sqlalchemy as sa
from alembic import op

import service.db

# revision identifiers, used by Alembic.
revision = 'c7e2a9d4f1b8'
down_revision = 'b9d4e1f7a3c5'
branch_labels = None
depends_on = None


def upgrade():
    # Added columns, no rebuild: on SQLite a rebuild of findings would lose its AUTOINCREMENT
    # and, with foreign keys on, the rows that reference it (b9d4e1f7a3c5 says how).
    op.add_column('findings', sa.Column('review', sa.String(length=8), nullable=True))
    op.add_column('findings', sa.Column('reviewed_by', sa.String(length=36), nullable=True))
    op.add_column('findings', sa.Column('reviewed_at', service.db.UTCDateTime(), nullable=True))
    op.create_index('ix_findings_review', 'findings', ['review'], unique=False)
    findings = sa.table('findings', sa.column('review', sa.String),
                        sa.column('corrected_category', sa.String),
                        sa.column('corrected_by', sa.String))
    users = sa.table('users', sa.column('id', sa.String), sa.column('role', sa.String))
    op.execute(findings.update().where(findings.c.corrected_category.is_not(None))
               .values(review='pending'))
    admins = sa.select(users.c.id).where(users.c.role == 'admin').scalar_subquery()
    op.execute(findings.update().where(findings.c.corrected_category.is_not(None),
                                       findings.c.corrected_by.in_(admins))
               .values(review='accepted'))
    op.add_column('model_trainings', sa.Column('contributors', sa.JSON(), nullable=True))


def downgrade():
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:  # the rebuild below must not cascade into the rows that reference findings
        _foreign_keys('OFF')
    with op.batch_alter_table('model_trainings') as batch:
        batch.drop_column('contributors')
    op.drop_index('ix_findings_review', table_name='findings')
    with op.batch_alter_table('findings', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.drop_column('reviewed_at')
        batch.drop_column('reviewed_by')
        batch.drop_column('review')
    if sqlite:
        _foreign_keys('ON')


def _foreign_keys(state: str) -> None:
    """Foreign keys on or off, outside a transaction (where SQLite honours the pragma)."""
    with op.get_context().autocommit_block():
        op.execute(f'PRAGMA foreign_keys={state}')
