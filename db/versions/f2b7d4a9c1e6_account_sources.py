"""where an account's people sign in: a password, an OpenID provider, a directory

Revision ID: f2b7d4a9c1e6
Revises: e4c8a2f6d0b7
Create Date: 2026-11-27 20:30:00

Single sign-on (service/auth/identities.py) makes accounts just in time and finds them again
by what the provider calls the person (``external_id``), never by an email alone, which a
provider may let a person change. Accounts stored before are local ones.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'f2b7d4a9c1e6'
down_revision = 'e4c8a2f6d0b7'
branch_labels = None
depends_on = None


def upgrade():
    # Added columns and an index, no rebuild (a rebuild of users on SQLite, with foreign
    # keys on, would take every row that references it along: b9d4e1f7a3c5 says how).
    op.add_column('users', sa.Column('auth_source', sa.String(length=8), nullable=False,
                                     server_default='local'))
    op.add_column('users', sa.Column('external_id', sa.String(length=255), nullable=True))
    op.create_index('uq_users_external_id', 'users', ['external_id'], unique=True)


def downgrade():
    op.drop_index('uq_users_external_id', table_name='users')
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:  # the rebuild below must not cascade into the rows that reference users
        _foreign_keys('OFF')
    with op.batch_alter_table('users') as batch:
        batch.drop_column('external_id')
        batch.drop_column('auth_source')
    if sqlite:
        _foreign_keys('ON')


def _foreign_keys(state: str) -> None:
    """Foreign keys on or off, outside a transaction (where SQLite honours the pragma)."""
    with op.get_context().autocommit_block():
        op.execute(f'PRAGMA foreign_keys={state}')
