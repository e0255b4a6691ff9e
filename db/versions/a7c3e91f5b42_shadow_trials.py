"""shadow trials

Revision ID: a7c3e91f5b42
Revises: 5d1e7a3c9b20
Create Date: 2026-11-26 06:00:00

A candidate model's shadow trials and what it read of each sampled scan beside the active
model (service/shadow.py). Two new tables: nothing existing changes.
"""
import sqlalchemy as sa
from alembic import op

import service.db

# revision identifiers, used by Alembic.
revision = 'a7c3e91f5b42'
down_revision = '5d1e7a3c9b20'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table('shadow_trials',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('version', sa.String(length=128), nullable=False),
    sa.Column('sample_rate', sa.Float(), nullable=False),
    sa.Column('scan_limit', sa.Integer(), nullable=False),
    sa.Column('read', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('started_at', service.db.UTCDateTime(), nullable=False),
    sa.Column('started_by', sa.String(length=36), nullable=True),
    sa.Column('ended_at', service.db.UTCDateTime(), nullable=True),
    sa.Column('ended_why', sa.String(length=16), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_shadow_trials_version'), 'shadow_trials', ['version'],
                    unique=False)
    op.create_table('shadow_readings',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('trial_id', BIG_ID, nullable=False),
    sa.Column('scan_id', sa.String(length=36), nullable=False),
    sa.Column('active_version', sa.String(length=128), nullable=False),
    sa.Column('sentences', sa.Integer(), nullable=False),
    sa.Column('agreed', sa.Integer(), nullable=False),
    sa.Column('disagreements', sa.JSON(), nullable=False),
    sa.Column('created_at', service.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['trial_id'], ['shadow_trials.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_shadow_readings_trial_id'), 'shadow_readings', ['trial_id'],
                    unique=False)


def downgrade():
    op.drop_table('shadow_readings')
    op.drop_table('shadow_trials')
