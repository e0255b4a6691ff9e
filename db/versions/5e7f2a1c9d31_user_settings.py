"""user settings

Revision ID: 5e7f2a1c9d31
Revises: 4cc0dacb2259
Create Date: 2026-11-26 02:50:00

Each user's defaults for what a scan request leaves out: min_score, a project to scan
into, force_llm. One row per user, none until the user saves some.
"""
import sqlalchemy as sa
from alembic import op

import service.db

# revision identifiers, used by Alembic.
revision = '5e7f2a1c9d31'
down_revision = '9d2f6b1c4e70'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('user_settings',
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('min_score', sa.Float(), nullable=True),
    sa.Column('project_id', sa.String(length=36), nullable=True),
    sa.Column('force_llm', sa.Boolean(), nullable=False),
    sa.Column('updated_at', service.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_index(op.f('ix_user_settings_project_id'), 'user_settings', ['project_id'],
                    unique=False)


def downgrade():
    # The index goes with the table (MariaDB would refuse to drop it first: the key needs it).
    op.drop_table('user_settings')
