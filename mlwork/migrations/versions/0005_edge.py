"""Derived artifacts of a model version (issue 17): an ONNX export and its parity result.

- derived_artifacts: one row per export of a registered model version to another format (today 'onnx'): the blob's
  digest and size in the artifact store, the opsets, the converter versions, the input signature of the bundle, and
  the parity gate's result (scikit-learn vs onnxruntime on stated rows), recorded like a gate result. A finished run's
  artifacts are closed, so derived files live here, keyed by model name and version.

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "derived_artifacts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("opset", sa.JSON),
        sa.Column("converters", sa.JSON),
        sa.Column("signature", sa.JSON),
        sa.Column("parity", sa.JSON),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("who", sa.String(255)),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_derived_artifacts"),
    )
    op.create_index("ix_derived_artifacts_name_version_format", "derived_artifacts", ["name", "version", "format"])


def downgrade():
    op.drop_index("ix_derived_artifacts_name_version_format", "derived_artifacts")
    op.drop_table("derived_artifacts")
