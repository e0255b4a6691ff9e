"""owner notices

Revision ID: 4f1cdef944a9
Revises: f2b6d8a4c1e7
Create Date: 2026-11-29 20:30:00

A risk's owner told by mail and a project's weekly digest (issue #87, items 4 and 5): the
outbox's messages may carry a notice key, unique, so that a notice told once (a due date
reached, a week's digest) is never written twice, and the link that turns their kind off
(List-Unsubscribe); a user's settings say which owner notices they turned off, and whether
they asked for the digest. Columns added, nullable or false: nothing existing changes.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '4f1cdef944a9'
down_revision = 'f2b6d8a4c1e7'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('mail_messages') as batch:
        batch.add_column(sa.Column('notice_key', sa.String(length=120), nullable=True))
        batch.add_column(sa.Column('unsubscribe_url', sa.String(length=500), nullable=True))
        batch.create_unique_constraint('uq_mail_messages_notice_key', ['notice_key'])
    with op.batch_alter_table('user_settings') as batch:
        batch.add_column(sa.Column('mail_off', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('mail_digest', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('user_settings') as batch:
        batch.drop_column('mail_digest')
        batch.drop_column('mail_off')
    with op.batch_alter_table('mail_messages') as batch:
        batch.drop_constraint('uq_mail_messages_notice_key', type_='unique')
        batch.drop_column('unsubscribe_url')
        batch.drop_column('notice_key')
