"""sessions and api keys

Revision ID: 7c1e5a9b2d40
Revises: f31fa3f8d2d3
Create Date: 2026-11-22 22:30:00.000000

Logins become sessions (auth_sessions) that their tokens name, so that logout ends every
token of the session and a refresh chain has an absolute end; refresh tokens issued before
keep working once, their next refresh starts a session. Personal API keys (api_keys).
"""
import sqlalchemy as sa
from alembic import op

import service.db

# revision identifiers, used by Alembic.
revision = '7c1e5a9b2d40'
down_revision = 'f31fa3f8d2d3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('auth_sessions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', service.db.UTCDateTime(), nullable=False),
    sa.Column('expires_at', service.db.UTCDateTime(), nullable=False),
    sa.Column('ended_at', service.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auth_sessions_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_id', sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f('ix_refresh_tokens_session_id'), ['session_id'],
                              unique=False)
        batch_op.create_foreign_key('fk_refresh_tokens_session_id_auth_sessions',
                                    'auth_sessions', ['session_id'], ['id'], ondelete='CASCADE')

    op.create_table('api_keys',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('prefix', sa.String(length=32), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('token_version', sa.Integer(), nullable=False),
    sa.Column('created_at', service.db.UTCDateTime(), nullable=False),
    sa.Column('last_used_at', service.db.UTCDateTime(), nullable=True),
    sa.Column('expires_at', service.db.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', service.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('prefix')
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_user_id'), ['user_id'], unique=False)


def downgrade():
    # A table's indexes go with it: MariaDB/MySQL refuse to drop an index that a foreign
    # key needs (error 1553), so no index is dropped before its table.
    op.drop_table('api_keys')
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.drop_constraint('fk_refresh_tokens_session_id_auth_sessions',
                                 type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_refresh_tokens_session_id'))
        batch_op.drop_column('session_id')
    op.drop_table('auth_sessions')
