"""model trainings

Revision ID: e8a1c5d3f207
Revises: f2a8d4c6b1e3
Create Date: 2026-11-27 09:00:00

A new model version fine-tuned from the deployment's corrections (service/serving/
trainings.py): one row a training. A new table: nothing existing changes.
"""
import sqlalchemy as sa
from alembic import op

import service.db

# revision identifiers, used by Alembic.
revision = 'e8a1c5d3f207'
down_revision = 'f2a8d4c6b1e3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('model_trainings',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('unfinished', sa.Boolean(), nullable=True),
    sa.Column('base_version', sa.String(length=64), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=True),
    sa.Column('corrections', sa.Integer(), nullable=False),
    sa.Column('error', sa.String(length=1000), nullable=True),
    sa.Column('figures', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('shadow', sa.String(length=300), nullable=True),
    sa.Column('created_by', sa.String(length=36), nullable=True),
    sa.Column('created_at', service.db.UTCDateTime(), nullable=False),
    sa.Column('started_at', service.db.UTCDateTime(), nullable=True),
    sa.Column('finished_at', service.db.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('unfinished')
    )
    op.create_index(op.f('ix_model_trainings_created_at'), 'model_trainings', ['created_at'],
                    unique=False)


def downgrade():
    op.drop_index(op.f('ix_model_trainings_created_at'), table_name='model_trainings')
    op.drop_table('model_trainings')
