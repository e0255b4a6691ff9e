"""a project's invitations of people without an account

Revision ID: a1d5c3e7b9f2
Revises: b3e7f9a2c4d6
Create Date: 2026-11-29 03:00:00

An owner invites an email that has no account yet, with a role; the person joins when they
first sign in, by the link the owner handed over or through single sign-on
(service/projects/invitations.py). A row is a pending invitation: claimed, revoked or
expired, it goes, and the audit log keeps what happened to it.
"""
import sqlalchemy as sa
from alembic import op

import service.db

# revision identifiers, used by Alembic.
revision = 'a1d5c3e7b9f2'
down_revision = 'b3e7f9a2c4d6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'invitations',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('project_id', sa.String(length=36), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('role', sa.String(length=8), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('invited_by', sa.String(length=36), nullable=True),
        sa.Column('created_at', service.db.UTCDateTime(), nullable=False),
        sa.Column('expires_at', service.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_index('ix_invitations_project_id_email', 'invitations', ['project_id', 'email'],
                    unique=True)
    op.create_index(op.f('ix_invitations_email'), 'invitations', ['email'])
    op.create_index(op.f('ix_invitations_expires_at'), 'invitations', ['expires_at'])


def downgrade():
    # The table with its indexes (MariaDB refuses to drop alone the one its key needs).
    op.drop_table('invitations')
