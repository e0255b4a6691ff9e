"""projects and the risk register

Revision ID: b6ced9db2355
Revises: 7c1e5a9b2d40
Create Date: 2026-11-23 03:22:24.843371

Projects with their members, and the risk register: one entry per distinct risk of a
project, its embedding (register_vectors), and each finding's place in it (register_links,
with the embedding it was matched by). Scans gain their project; existing scans have none.
"""
import sqlalchemy as sa
from alembic import op

import service.db

# revision identifiers, used by Alembic.
revision = 'b6ced9db2355'
down_revision = '7c1e5a9b2d40'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('projects',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=36), nullable=True),
    sa.Column('created_at', service.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', service.db.UTCDateTime(), nullable=False),
    sa.Column('register_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('project_members',
    sa.Column('project_id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('role', sa.String(length=8), nullable=False),
    sa.Column('added_at', service.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'user_id')
    )
    with op.batch_alter_table('project_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_project_members_user_id'), ['user_id'], unique=False)

    op.create_table('register_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('project_id', sa.String(length=36), nullable=False),
    sa.Column('risk', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('owner_id', sa.String(length=36), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('first_seen', service.db.UTCDateTime(), nullable=False),
    sa.Column('last_seen', service.db.UTCDateTime(), nullable=False),
    sa.Column('occurrences', sa.Integer(), nullable=False),
    sa.Column('reopened', sa.Boolean(), nullable=False),
    sa.Column('settled_at', service.db.UTCDateTime(), nullable=True),
    sa.Column('created_at', service.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', service.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('register_entries', schema=None) as batch_op:
        batch_op.create_index('ix_register_entries_project_id_category', ['project_id', 'category'], unique=False)
        batch_op.create_index('ix_register_entries_project_id_last_seen', ['project_id', 'last_seen'], unique=False)

    op.create_table('register_vectors',
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('total', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['register_entries.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('entry_id')
    )

    op.create_table('register_links',
    sa.Column('finding_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('scan_id', sa.String(length=36), nullable=False),
    sa.Column('seen_at', service.db.UTCDateTime(), nullable=False),
    sa.Column('embedding', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['register_entries.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['finding_id'], ['findings.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['scan_id'], ['scans.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('finding_id')
    )
    with op.batch_alter_table('register_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_register_links_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_register_links_scan_id'), ['scan_id'], unique=False)

    # Not a batch (table-copying) operation on SQLite: rebuilding scans would drop the old
    # table, and with foreign keys on, that deletes every finding (ON DELETE CASCADE).
    # SQLite adds a column with its reference in place.
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE scans ADD COLUMN project_id VARCHAR(36) '
                   'CONSTRAINT fk_scans_project_id_projects REFERENCES projects (id) '
                   'ON DELETE SET NULL')
    else:
        op.add_column('scans', sa.Column('project_id', sa.String(length=36), nullable=True))
        op.create_foreign_key('fk_scans_project_id_projects', 'scans', 'projects',
                              ['project_id'], ['id'], ondelete='SET NULL')
    op.create_index('ix_scans_project_id_created_at', 'scans', ['project_id', 'created_at'],
                    unique=False)



def downgrade():
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite drops a referencing column only by rebuilding the table; with foreign keys
        # off while it does, dropping the old scans table does not cascade to the findings.
        op.execute('PRAGMA foreign_keys=OFF')
        op.drop_index('ix_scans_project_id_created_at', table_name='scans')
        with op.batch_alter_table('scans', schema=None) as batch_op:
            batch_op.drop_column('project_id')
        op.execute('PRAGMA foreign_keys=ON')
    else:
        op.drop_constraint('fk_scans_project_id_projects', 'scans', type_='foreignkey')
        op.drop_index('ix_scans_project_id_created_at', table_name='scans')
        op.drop_column('scans', 'project_id')

    # Dropping a table drops its indexes (MySQL refuses to drop one a foreign key needs).
    op.drop_table('register_links')
    op.drop_table('register_vectors')
    op.drop_table('register_entries')
    op.drop_table('project_members')
    op.drop_table('projects')
