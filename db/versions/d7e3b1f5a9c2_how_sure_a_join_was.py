"""how sure the register was when a finding joined its entry

Revision ID: d7e3b1f5a9c2
Revises: a1d5c3e7b9f2
Create Date: 2026-11-29 05:45:00

A finding's link to its register entry says how it came there (``joined_by``: it opened the
entry, the embeddings or the pair model joined it, or a person merged or split it) and, for
a join, how sure the register was (``alike``: the cosine with the wording it joined, or the
pair model's probability), so that an entry's page says which report restated it and how
sure the join was (issue #77). Links made before this say neither (null).
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'd7e3b1f5a9c2'
down_revision = 'a1d5c3e7b9f2'
branch_labels = None
depends_on = None


def upgrade():
    # Added columns only, no rebuild (cda70d3fa6e4 says why).
    op.add_column('register_links', sa.Column('joined_by', sa.String(length=12), nullable=True))
    op.add_column('register_links', sa.Column('alike', sa.Float(), nullable=True))


def downgrade():
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:  # the rebuild below must not cascade into the rows that reference it
        _foreign_keys('OFF')
    with op.batch_alter_table('register_links') as batch:
        batch.drop_column('alike')
        batch.drop_column('joined_by')
    if sqlite:
        _foreign_keys('ON')


def _foreign_keys(state: str) -> None:
    """Foreign keys on or off, outside a transaction (where SQLite honours the pragma)."""
    with op.get_context().autocommit_block():
        op.execute(f'PRAGMA foreign_keys={state}')
