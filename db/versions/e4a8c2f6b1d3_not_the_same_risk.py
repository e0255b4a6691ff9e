"""pairs of register entries a member said are not the same risk

Revision ID: e4a8c2f6b1d3
Revises: d7e3b1f5a9c2
Create Date: 2026-11-29 16:30:00

The register suggests, for an entry, the existing entries of any category that it may
restate (issue #85); a member merges one, or says "not the same", and that pair is never
suggested again: one row a pair, the lower entry id first.
"""
import sqlalchemy as sa
from alembic import op

from service.db import BigId, UTCDateTime

# revision identifiers, used by Alembic.
revision = 'e4a8c2f6b1d3'
down_revision = 'd7e3b1f5a9c2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'register_not_same',
        sa.Column('first_id', BigId, nullable=False),
        sa.Column('second_id', BigId, nullable=False),
        sa.Column('project_id', sa.String(length=36), nullable=False),
        sa.Column('dismissed_by', sa.String(length=36), nullable=True),
        sa.Column('dismissed_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['first_id'], ['register_entries.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['second_id'], ['register_entries.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('first_id', 'second_id'),
    )
    op.create_index('ix_register_not_same_second_id', 'register_not_same', ['second_id'])
    op.create_index('ix_register_not_same_project_id', 'register_not_same', ['project_id'])


def downgrade():
    op.drop_table('register_not_same')  # its indexes with it (MySQL's back its foreign keys)
