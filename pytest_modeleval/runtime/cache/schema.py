"""The prediction cache's tables, written once in SQLAlchemy Core for SQLite and PostgreSQL alike.

The tables here are the newest revision; runtime/cache/migrations/ holds the Alembic
revisions that build them step by step (0001 is the pre-Alembic SQLite layout, so an old
cache file is adopted rather than rebuilt). `REVISIONS` lists them in order: a DB stamped
with a revision not in it was written by a newer pytest-modeleval and is refused.
"""

from __future__ import annotations

import sqlalchemy as sa

VERSION_TABLE = "modeleval_cache_version"  # the results DB keeps its own version table
REVISIONS = ("0001", "0002")
HEAD = REVISIONS[-1]

metadata = sa.MetaData()

predictions = sa.Table(
    "predictions", metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("model_hash", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("value", sa.Text, nullable=False),  # canonical JSON
    sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Index("predictions_model", "model_hash"),
)

# Who computes which prediction right now. `expires_at` is the lease: on PostgreSQL a claim whose
# claimant stopped renewing it (a killed process, a lost machine) is free once it passes.
prediction_claims = sa.Table(
    "prediction_claims", metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("claimed_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Index("prediction_claims_owner", "owner"),
)
