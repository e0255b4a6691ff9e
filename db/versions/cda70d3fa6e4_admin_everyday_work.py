"""an admin's one-time passwords, sessions' last activity, deliveries' answers

Revision ID: cda70d3fa6e4
Revises: f2b7d4a9c1e6
Create Date: 2026-11-27 21:00:00

A password an admin sets (a new user's, a reset) is known to two people: the account must
change it before it does anything else (``must_change_password``). A session says when it
was last used, written at most once a minute (``last_active_at``). A delivery keeps what
its receiver answered, headers and the first 4 KB of the body, for its owner to read.
"""
import sqlalchemy as sa
from alembic import op

import service.db

# revision identifiers, used by Alembic.
revision = 'cda70d3fa6e4'
down_revision = 'f2b7d4a9c1e6'
branch_labels = None
depends_on = None


def upgrade():
    # Added columns only, no rebuild (a rebuild of users on SQLite, with foreign keys on,
    # would take every row that references it along: b9d4e1f7a3c5 says how).
    op.add_column('users', sa.Column('must_change_password', sa.Boolean(), nullable=False,
                                     server_default=sa.false()))
    op.add_column('auth_sessions', sa.Column('last_active_at', service.db.UTCDateTime(),
                                             nullable=True))
    op.add_column('webhook_deliveries', sa.Column('response_headers', sa.JSON(),
                                                  nullable=True))
    op.add_column('webhook_deliveries', sa.Column('response_body', sa.Text(), nullable=True))


def downgrade():
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:  # the rebuilds below must not cascade into the rows that reference them
        _foreign_keys('OFF')
    with op.batch_alter_table('webhook_deliveries') as batch:
        batch.drop_column('response_body')
        batch.drop_column('response_headers')
    with op.batch_alter_table('auth_sessions') as batch:
        batch.drop_column('last_active_at')
    with op.batch_alter_table('users') as batch:
        batch.drop_column('must_change_password')
    if sqlite:
        _foreign_keys('ON')


def _foreign_keys(state: str) -> None:
    """Foreign keys on or off, outside a transaction (where SQLite honours the pragma)."""
    with op.get_context().autocommit_block():
        op.execute(f'PRAGMA foreign_keys={state}')
