"""the mail outbox

Revision ID: f2b6d8a4c1e7
Revises: e4a8c2f6b1d3
Create Date: 2026-11-29 17:00:00

Riskscan writes to people (issue #87): each message is a row written in the transaction that
caused it (an invitation, a password reset asked for) and sent by a worker, retried while
the relay is down and given up after MAIL_RETRY_HOURS, as a webhook delivery is. A new
table: nothing existing changes.
"""
import sqlalchemy as sa
from alembic import op

from service.db import UTCDateTime

# revision identifiers, used by Alembic.
revision = 'f2b6d8a4c1e7'
down_revision = 'e4a8c2f6b1d3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'mail_messages',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('kind', sa.String(length=24), nullable=False),
        sa.Column('to_address', sa.String(length=254), nullable=False),
        sa.Column('subject', sa.String(length=300), nullable=False),
        sa.Column('text_body', sa.Text(), nullable=False),
        sa.Column('html_body', sa.Text(), nullable=True),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('error', sa.String(length=500), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('next_attempt_at', UTCDateTime(), nullable=True),
        sa.Column('last_attempt_at', UTCDateTime(), nullable=True),
        sa.Column('sent_at', UTCDateTime(), nullable=True),
        sa.Column('retry_until', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_mail_messages_status_next_attempt_at', 'mail_messages',
                    ['status', 'next_attempt_at'])


def downgrade():
    op.drop_table('mail_messages')
