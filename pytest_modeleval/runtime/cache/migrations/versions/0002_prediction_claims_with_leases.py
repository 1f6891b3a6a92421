"""Claims get a lease (expires_at) and a name of their own, so a results DB in the same PostgreSQL
database can never collide with them. Claims are transient: the old table's rows are dropped.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prediction_claims",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("claimed_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
    )
    op.create_index("prediction_claims_owner", "prediction_claims", ["owner"])
    op.drop_table("claims")


def downgrade() -> None:
    op.create_table(
        "claims",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("claimed_at", sa.Double, nullable=False),
    )
    op.drop_index("prediction_claims_owner", table_name="prediction_claims")
    op.drop_table("prediction_claims")
