"""model deployment

Revision ID: 9d2f6b1c4e70
Revises: 4cc0dacb2259
Create Date: 2026-11-26 02:45:00

The one row that says which model every process serves (the active version, those rollback
returns to, a generation each change bumps) and the shadow candidate's columns.
"""
import sqlalchemy as sa
from alembic import op

import service.db

# revision identifiers, used by Alembic.
revision = '9d2f6b1c4e70'
down_revision = '9e4b7c2a1f30'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('model_deployment',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('active_version', sa.String(length=128), nullable=False),
    sa.Column('previous_versions', sa.JSON(), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('changed_at', service.db.UTCDateTime(), nullable=False),
    sa.Column('changed_by', sa.String(length=36), nullable=True),
    sa.Column('shadow_version', sa.String(length=128), nullable=True),
    sa.Column('shadow_sample_rate', sa.Float(), nullable=True),
    sa.Column('shadow_limit', sa.Integer(), nullable=True),
    sa.Column('shadow_started_at', service.db.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade():
    op.drop_table('model_deployment')
