"""curated register entries

Revision ID: f2a8d4c6b1e3
Revises: e5b1c7d9a2f4
Create Date: 2026-11-26 17:30:00

Entries mended by hand: one added by a person (register_entries.added_by_user), the
wordings an entry keeps after a merge (register_links.wording: which row of the entry's
vector a finding counts in; register_vectors.stated: the rows a person typed), and the
merged ids that answer a redirect (register_merges). Existing entries have one wording,
every finding in it, and none was added by hand.
"""
import sqlalchemy as sa
from alembic import op

import service.db

# revision identifiers, used by Alembic.
revision = 'f2a8d4c6b1e3'
down_revision = 'e5b1c7d9a2f4'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    # Not batch (table-copying) operations: rebuilding the register's tables would drop
    # the old ones, which with foreign keys on deletes every row that references them.
    op.add_column('register_entries', sa.Column('added_by_user', sa.Boolean(), nullable=False,
                                                server_default=sa.false()))
    op.add_column('register_links', sa.Column('wording', sa.SmallInteger(), nullable=False,
                                              server_default='0'))
    op.add_column('register_vectors', sa.Column('stated', sa.LargeBinary(), nullable=True))
    op.create_table('register_merges',
    sa.Column('merged_id', BIG_ID, autoincrement=False, nullable=False),
    sa.Column('project_id', sa.String(length=36), nullable=False),
    sa.Column('into_id', BIG_ID, nullable=False),
    sa.Column('merged_by', sa.String(length=36), nullable=True),
    sa.Column('merged_at', service.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['into_id'], ['register_entries.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('merged_id')
    )
    op.create_index(op.f('ix_register_merges_into_id'), 'register_merges', ['into_id'],
                    unique=False)


def downgrade():
    # Dropping a table drops its indexes (MySQL refuses to drop one a foreign key needs).
    op.drop_table('register_merges')
    # SQLite (3.35 and later) drops a column that no index, key or constraint names in
    # place: no table is rebuilt, so nothing cascades.
    op.drop_column('register_vectors', 'stated')
    op.drop_column('register_links', 'wording')
    op.drop_column('register_entries', 'added_by_user')
