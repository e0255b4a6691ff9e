"""dismissals

Revision ID: 5d1e7a3c9b20
Revises: 4cc0dacb2259
Create Date: 2026-11-26 02:50:00

What a project's members said is not a risk (a finding corrected to `none`), and the later
findings each dismissal keeps out of the register, with their embeddings (to put them back
when the dismissal is deleted). Two new tables: nothing existing changes.
"""
import sqlalchemy as sa
from alembic import op

import service.db

# revision identifiers, used by Alembic.
revision = '5d1e7a3c9b20'
down_revision = '5e7f2a1c9d31'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table('dismissals',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('project_id', sa.String(length=36), nullable=False),
    sa.Column('risk', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('embedding', sa.LargeBinary(), nullable=False),
    sa.Column('finding_id', BIG_ID, nullable=True),
    sa.Column('scan_id', sa.String(length=36), nullable=True),
    sa.Column('dismissed_by', sa.String(length=36), nullable=True),
    sa.Column('created_at', service.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['finding_id'], ['findings.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['scan_id'], ['scans.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_dismissals_project_id_category', 'dismissals',
                    ['project_id', 'category'], unique=False)
    op.create_index('ix_dismissals_finding_id', 'dismissals', ['finding_id'], unique=True)
    op.create_table('dismissed_findings',
    sa.Column('finding_id', BIG_ID, nullable=False),
    sa.Column('dismissal_id', BIG_ID, nullable=False),
    sa.Column('scan_id', sa.String(length=36), nullable=False),
    sa.Column('embedding', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['dismissal_id'], ['dismissals.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['finding_id'], ['findings.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['scan_id'], ['scans.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('finding_id')
    )
    op.create_index(op.f('ix_dismissed_findings_dismissal_id'), 'dismissed_findings',
                    ['dismissal_id'], unique=False)
    op.create_index(op.f('ix_dismissed_findings_scan_id'), 'dismissed_findings', ['scan_id'],
                    unique=False)


def downgrade():
    op.drop_table('dismissed_findings')
    op.drop_table('dismissals')
