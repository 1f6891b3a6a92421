"""The results DB as of schema 5: every table of store.TABLES (an existing SQLite DB keeps its tables).

Revision ID: 0005
Revises:
"""

from alembic import op

revision = "0005"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    from pytest_modeleval.results.schema import metadata

    # checkfirst: a SQLite DB written before the migrations existed is adopted as it is;
    # its missing columns are added by migrate.add_missing_columns, as every version does.
    metadata().create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    from pytest_modeleval.results.schema import metadata

    metadata().drop_all(op.get_bind())
