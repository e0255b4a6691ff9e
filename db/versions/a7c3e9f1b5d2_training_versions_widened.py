"""training versions widened

Revision ID: a7c3e9f1b5d2
Revises: c53529acec3d
Create Date: 2026-11-27 12:00:00

A training's base and candidate are deployment strings now (service/serving/trainings.py):
``F+R`` where a reader is deployed, which two version names of up to 63 characters fill to
127, as the deployment's own columns (128) hold them.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a7c3e9f1b5d2'
down_revision = 'c53529acec3d'
branch_labels = None
depends_on = None

COLUMNS = (('base_version', False), ('version', True))


def upgrade():
    with op.batch_alter_table('model_trainings') as batch:
        for column, nullable in COLUMNS:
            batch.alter_column(column, existing_type=sa.String(length=64),
                               type_=sa.String(length=128), existing_nullable=nullable)


def downgrade():
    # A pair's string does not fit 64 characters: such trainings keep their fast model's.
    trainings = sa.table('model_trainings', sa.column('base_version', sa.String),
                         sa.column('version', sa.String))
    for column in ('base_version', 'version'):
        field = trainings.c[column]
        op.execute(trainings.update().where(sa.func.length(field) > 64)
                   .values({column: sa.func.substr(field, 1, sa.func.instr(field, '+') - 1)}))
    with op.batch_alter_table('model_trainings') as batch:
        for column, nullable in COLUMNS:
            batch.alter_column(column, existing_type=sa.String(length=128),
                               type_=sa.String(length=64), existing_nullable=nullable)
