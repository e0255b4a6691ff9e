"""scan category counts

Revision ID: f31fa3f8d2d3
Revises: d3ba69a86e6b
Create Date: 2026-11-22 12:10:00.000000

Each scan stores its findings per category (Scan.category_counts), so that the list of
scans does not count findings on every read. Existing scans are counted here, as
Scan.counts() counts them: corrections applied, none left out, categories in the order of
their first finding.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'f31fa3f8d2d3'
down_revision = 'd3ba69a86e6b'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('scans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('category_counts', sa.JSON(none_as_null=True),
                                      nullable=True))

    scans = sa.table('scans', sa.column('id', sa.String),
                     sa.column('category_counts', sa.JSON(none_as_null=True)))
    findings = sa.table('findings', sa.column('scan_id', sa.String),
                        sa.column('position', sa.Integer), sa.column('category', sa.String),
                        sa.column('corrected_category', sa.String))
    connection = op.get_bind()
    effective = sa.func.coalesce(findings.c.corrected_category, findings.c.category)
    counts = {scan_id: [] for scan_id in connection.scalars(sa.select(scans.c.id))}
    rows = connection.execute(
        sa.select(findings.c.scan_id, effective, sa.func.count(), sa.func.min(findings.c.position))
        .where(effective != 'none')
        .group_by(findings.c.scan_id, effective)
        .order_by(findings.c.scan_id, sa.func.min(findings.c.position)))
    for scan_id, category, count, _first in rows:
        counts.setdefault(scan_id, []).append([category, count])
    if counts:
        connection.execute(
            scans.update().where(scans.c.id == sa.bindparam('scan_id'))
            .values(category_counts=sa.bindparam('counts')),
            [{'scan_id': scan_id, 'counts': pairs} for scan_id, pairs in counts.items()])


def downgrade():
    with op.batch_alter_table('scans', schema=None) as batch_op:
        batch_op.drop_column('category_counts')
