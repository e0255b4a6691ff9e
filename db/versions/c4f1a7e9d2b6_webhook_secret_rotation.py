"""webhook secret rotation

Revision ID: c4f1a7e9d2b6
Revises: e8a1c5d3f207
Create Date: 2026-11-27 09:00:00

The secrets a webhook's rotations replaced and the end of their overlap, during which
deliveries are signed with them too (service/webhooks/sending.py). Two nullable columns:
existing webhooks have no rotation behind them.
"""
import sqlalchemy as sa
from alembic import op

import service.db

# revision identifiers, used by Alembic.
revision = 'c4f1a7e9d2b6'
down_revision = 'e8a1c5d3f207'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('webhooks', sa.Column('previous_secrets', sa.JSON(), nullable=True))
    op.add_column('webhooks', sa.Column('previous_secrets_until', service.db.UTCDateTime(),
                                        nullable=True))


def downgrade():
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite drops a column by rebuilding the table: with foreign keys on, dropping the
        # old one would cascade to every delivery (as b6ced9db2355 found with scans).
        op.execute('PRAGMA foreign_keys=OFF')
        with op.batch_alter_table('webhooks', schema=None) as batch_op:
            batch_op.drop_column('previous_secrets_until')
            batch_op.drop_column('previous_secrets')
        op.execute('PRAGMA foreign_keys=ON')
    else:
        op.drop_column('webhooks', 'previous_secrets_until')
        op.drop_column('webhooks', 'previous_secrets')
