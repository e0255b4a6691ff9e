"""batch jobs and idempotency keys

Revision ID: 4cc0dacb2259
Revises: b6ced9db2355
Create Date: 2026-11-23 06:55:00

Jobs (several documents sent at once) and their documents; a scan made for a job's document
names it (scans.job_document_id, unique: one scan per document however often its task
runs). Idempotency keys keep a POST's first answer per user for retries.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import service.db

# revision identifiers, used by Alembic.
revision = '4cc0dacb2259'
down_revision = 'b6ced9db2355'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table('jobs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=36), nullable=True),
    sa.Column('force_llm', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('created_at', service.db.UTCDateTime(), nullable=False),
    sa.Column('finished_at', service.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_jobs_user_id_created_at', 'jobs', ['user_id', 'created_at'],
                    unique=False)
    op.create_table('job_documents',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('job_id', sa.String(length=36), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('started_at', service.db.UTCDateTime(), nullable=True),
    sa.Column('finished_at', service.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_job_documents_job_id_position', 'job_documents', ['job_id', 'position'],
                    unique=True)
    op.create_index('ix_job_documents_status', 'job_documents', ['status'], unique=False)
    op.create_table('idempotency_keys',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=True),
    sa.Column('body', sa.LargeBinary().with_variant(mysql.LONGBLOB(), 'mysql', 'mariadb'),
              nullable=True),
    sa.Column('headers', sa.JSON(), nullable=True),
    sa.Column('created_at', service.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_idempotency_keys_user_id_key', 'idempotency_keys', ['user_id', 'key'],
                    unique=True)
    op.create_index(op.f('ix_idempotency_keys_created_at'), 'idempotency_keys',
                    ['created_at'], unique=False)
    # SQLite adds a column with its reference in place.
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE scans ADD COLUMN job_document_id INTEGER '
                   'CONSTRAINT fk_scans_job_document_id_job_documents '
                   'REFERENCES job_documents (id) ON DELETE SET NULL')
    else:
        op.add_column('scans', sa.Column('job_document_id', BIG_ID, nullable=True))
        op.create_foreign_key('fk_scans_job_document_id_job_documents', 'scans',
                              'job_documents', ['job_document_id'], ['id'],
                              ondelete='SET NULL')
    op.create_index('ix_scans_job_document_id', 'scans', ['job_document_id'], unique=True)


def downgrade():
    if op.get_bind().dialect.name == 'sqlite':
        # As b6ced9db2355: rebuild scans with foreign keys off, so that dropping the old
        # table does not cascade to the findings.
        op.execute('PRAGMA foreign_keys=OFF')
        op.drop_index('ix_scans_job_document_id', table_name='scans')
        with op.batch_alter_table('scans', schema=None) as batch_op:
            batch_op.drop_column('job_document_id')
        op.execute('PRAGMA foreign_keys=ON')
    else:
        op.drop_constraint('fk_scans_job_document_id_job_documents', 'scans',
                           type_='foreignkey')
        op.drop_index('ix_scans_job_document_id', table_name='scans')
        op.drop_column('scans', 'job_document_id')
    op.drop_table('idempotency_keys')
    op.drop_table('job_documents')
    op.drop_table('jobs')
