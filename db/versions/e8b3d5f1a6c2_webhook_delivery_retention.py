"""webhook delivery retention

Revision ID: e8b3d5f1a6c2
Revises: c4f1a7e9d2b6
Create Date: 2026-11-27 10:00:00

What the webhooks' upkeep (service/webhooks/retention.py) finds without reading a whole
table: settled deliveries by their last attempt, and rotations whose overlap is over.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e8b3d5f1a6c2'
down_revision = 'c4f1a7e9d2b6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_webhook_deliveries_status_last_attempt_at', 'webhook_deliveries',
                    ['status', 'last_attempt_at'], unique=False)
    op.create_index(op.f('ix_webhooks_previous_secrets_until'), 'webhooks',
                    ['previous_secrets_until'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_webhooks_previous_secrets_until'), table_name='webhooks')
    op.drop_index('ix_webhook_deliveries_status_last_attempt_at',
                  table_name='webhook_deliveries')
