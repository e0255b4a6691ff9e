"""shadow readings go with their scan

Revision ID: c4f8e2a6b913
Revises: a7c3e91f5b42
Create Date: 2026-11-26 16:00:00

A shadow reading keeps the sentences of the scan it read (service/shadow.py): deleting the
scan, or its user, now deletes the reading too (a foreign key, ON DELETE CASCADE). The
readings of scans deleted before are deleted here, so that the key holds for every row.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c4f8e2a6b913'
down_revision = 'a7c3e91f5b42'
branch_labels = None
depends_on = None

KEY = 'fk_shadow_readings_scan_id_scans'


def upgrade():
    op.execute('DELETE FROM shadow_readings WHERE scan_id NOT IN (SELECT id FROM scans)')
    op.create_index(op.f('ix_shadow_readings_scan_id'), 'shadow_readings', ['scan_id'],
                    unique=False)
    if op.get_bind().dialect.name == 'sqlite':  # SQLite adds a key by rebuilding the table
        with op.batch_alter_table('shadow_readings', schema=None) as batch_op:
            batch_op.create_foreign_key(KEY, 'scans', ['scan_id'], ['id'], ondelete='CASCADE')
    else:
        op.create_foreign_key(KEY, 'shadow_readings', 'scans', ['scan_id'], ['id'],
                              ondelete='CASCADE')


def downgrade():
    if op.get_bind().dialect.name == 'sqlite':
        with op.batch_alter_table('shadow_readings', schema=None) as batch_op:
            batch_op.drop_constraint(KEY, type_='foreignkey')
    else:
        op.drop_constraint(KEY, 'shadow_readings', type_='foreignkey')
    op.drop_index(op.f('ix_shadow_readings_scan_id'), table_name='shadow_readings')
