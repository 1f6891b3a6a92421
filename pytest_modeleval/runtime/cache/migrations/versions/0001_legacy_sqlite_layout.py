"""The layout of the cache before Alembic: predictions, and claims with a claim time only.

An existing cache file with these tables is stamped at this revision instead of being rebuilt.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("model_hash", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_index("predictions_model", "predictions", ["model_hash"])
    op.create_table(
        "claims",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("claimed_at", sa.Double, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("claims")
    op.drop_index("predictions_model", table_name="predictions")
    op.drop_table("predictions")
