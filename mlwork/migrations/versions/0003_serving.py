"""Serving: API keys and the servers that serve models.

- api_keys: one row per key; the secret is stored only as a sha256 digest (the key's id, a prefix of the
  token, is the primary key, so checking a token is one lookup). `updated_at` (indexed) changes on every
  create and revoke, so a server notices a revoked key with one query per interval.
- servers: one row per serving process (a worker of `mlwork serve`), with what it serves and a heartbeat,
  read by `mlwork serve ls`.

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(255), nullable=False),
        sa.Column("models", sa.JSON),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("expires_at", sa.Double),
        sa.Column("revoked_at", sa.Double),
        sa.Column("revoked_by", sa.String(255)),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("name", name="uq_api_keys_name"),
    )
    op.create_index("ix_api_keys_updated_at", "api_keys", ["updated_at"])
    op.create_table(
        "servers",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("server", sa.String(32), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("models", sa.JSON),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("heartbeat_at", sa.Double, nullable=False),
        sa.Column("stopped_at", sa.Double),
        sa.PrimaryKeyConstraint("id", name="pk_servers"),
    )
    op.create_index("ix_servers_heartbeat_at", "servers", ["heartbeat_at"])


def downgrade():
    op.drop_index("ix_servers_heartbeat_at", "servers")
    op.drop_table("servers")
    op.drop_index("ix_api_keys_updated_at", "api_keys")
    op.drop_table("api_keys")
