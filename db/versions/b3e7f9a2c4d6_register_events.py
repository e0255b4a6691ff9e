"""the register's events, the date an entry was settled at, a job's repeated documents

Revision ID: b3e7f9a2c4d6
Revises: cda70d3fa6e4
Create Date: 2026-11-29 02:30:00

Every change to a register entry is a row of ``register_events`` with its cause
(service/projects/entry_events.py). ``settled_through``: the newest report's date when an
entry was accepted or closed, which only a later report's statement reopens. A job's
document whose text the project holds already is skipped, naming the scan it repeats.
"""
import sqlalchemy as sa
from alembic import op

import service.db

# revision identifiers, used by Alembic.
revision = 'b3e7f9a2c4d6'
down_revision = 'cda70d3fa6e4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'register_events',
        sa.Column('id', service.db.BigId, nullable=False),
        sa.Column('project_id', sa.String(length=36), nullable=False),
        sa.Column('entry_id', service.db.BigId, nullable=False),
        sa.Column('at', service.db.UTCDateTime(), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('cause', sa.String(length=12), nullable=False),
        sa.Column('actor_id', sa.String(length=36), nullable=True),
        sa.Column('scan_id', sa.String(length=36), nullable=True),
        sa.Column('job_id', sa.String(length=36), nullable=True),
        sa.Column('changes', sa.JSON(), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_register_events_entry_id_id', 'register_events', ['entry_id', 'id'])
    op.create_index('ix_register_events_scan_id', 'register_events', ['scan_id'])
    op.create_index(op.f('ix_register_events_project_id'), 'register_events', ['project_id'])
    # Added columns only, no rebuild (cda70d3fa6e4 says why).
    op.add_column('register_entries', sa.Column('settled_through', service.db.UTCDateTime(),
                                                nullable=True))
    op.add_column('job_documents', sa.Column('duplicate_of', sa.String(length=36),
                                             nullable=True))
    op.add_column('jobs', sa.Column('skipped', sa.Integer(), nullable=False,
                                    server_default='0'))


def downgrade():
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:  # the rebuilds below must not cascade into the rows that reference them
        _foreign_keys('OFF')
    with op.batch_alter_table('jobs') as batch:
        batch.drop_column('skipped')
    with op.batch_alter_table('job_documents') as batch:
        batch.drop_column('duplicate_of')
    with op.batch_alter_table('register_entries') as batch:
        batch.drop_column('settled_through')
    if sqlite:
        _foreign_keys('ON')
    op.drop_table('register_events')


def _foreign_keys(state: str) -> None:
    """Foreign keys on or off, outside a transaction (where SQLite honours the pragma)."""
    with op.get_context().autocommit_block():
        op.execute(f'PRAGMA foreign_keys={state}')
