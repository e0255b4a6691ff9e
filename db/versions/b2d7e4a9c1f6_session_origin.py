"""session origin

Revision ID: b2d7e4a9c1f6
Revises: e8b3d5f1a6c2
Create Date: 2026-11-26 19:05:00

Where a login came from (address, user agent), so that its user can tell their sessions
apart on the Account page. Sessions started before stay without one.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'b2d7e4a9c1f6'
down_revision = 'e8b3d5f1a6c2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ip', sa.String(length=45), nullable=True))
        batch_op.add_column(sa.Column('user_agent', sa.String(length=255), nullable=True))


def downgrade():
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.drop_column('user_agent')
        batch_op.drop_column('ip')
