"""register ratings

Revision ID: 9e4c2a7b1d05
Revises: 4cc0dacb2259
Create Date: 2026-11-26 02:50:00

A register entry's likelihood and impact, 1–5 each, null until someone rates it; the score
(their product) is computed where it is read (service/rating.py), never stored.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '9e4c2a7b1d05'
down_revision = '4cc0dacb2259'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('register_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('likelihood', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('impact', sa.SmallInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table('register_entries', schema=None) as batch_op:
        batch_op.drop_column('impact')
        batch_op.drop_column('likelihood')
