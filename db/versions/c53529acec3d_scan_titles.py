"""scan titles

Revision ID: c53529acec3d
Revises: b2d7e4a9c1f6
Create Date: 2026-11-27 10:00:00

A scan carries a title (scans.title): its text's first heading or first line, what names
a pasted text in the history and the API (service/scans/titles.py). Scans that kept their
text get theirs here, from the text's opening, a batch of rows at a time; those stored
before scans kept their text have none.
"""
import sqlalchemy as sa
from alembic import op

from service.scans.titles import OPENING, title_of

# revision identifiers, used by Alembic.
revision = 'c53529acec3d'
down_revision = 'b2d7e4a9c1f6'
branch_labels = None
depends_on = None

BATCH = 500


def upgrade():
    # Not a batch (table-copying) operation: SQLite adds a column in place, and rebuilding
    # scans would drop the old table, which with foreign keys on deletes every row that
    # references it (ON DELETE CASCADE).
    op.add_column('scans', sa.Column('title', sa.String(length=60), nullable=True))
    scans = sa.table('scans', sa.column('id', sa.String), sa.column('text', sa.Text),
                     sa.column('title', sa.String))
    connection = op.get_bind()
    after = ''
    while True:
        rows = connection.execute(
            sa.select(scans.c.id, sa.func.substr(scans.c.text, 1, OPENING))
            .where(scans.c.text.is_not(None), scans.c.id > after)
            .order_by(scans.c.id).limit(BATCH)).all()
        if not rows:
            break
        titled = [{'scan_id': scan_id, 'title': title_of(opening)}
                  for scan_id, opening in rows]
        connection.execute(scans.update().where(scans.c.id == sa.bindparam('scan_id'))
                           .values(title=sa.bindparam('title')), titled)
        after = rows[-1][0]


def downgrade():
    # SQLite (3.35 and later) drops a column that no index, key or constraint names in
    # place: no table is rebuilt, so nothing cascades.
    op.drop_column('scans', 'title')
