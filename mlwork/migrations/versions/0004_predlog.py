"""The prediction log and feedback.

- prediction_segments: one row per Parquet segment a server process wrote to the artifact store (a content-addressed
  blob), indexed by model and time window (request time, and the data's time column when it has one), with the rows,
  requests, and what was dropped (queue full) or sampled out since the previous segment. A row without a digest only
  carries drop counts.
- feedback: delayed labels as sent (by request id and row, or by entity and time) and the logged prediction each
  matched; an unmatched label is kept with NULL pred_* columns.

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "prediction_segments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer),
        sa.Column("first_at", sa.Double, nullable=False),
        sa.Column("last_at", sa.Double, nullable=False),
        sa.Column("data_first", sa.Double),
        sa.Column("data_last", sa.Double),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64)),
        sa.Column("size", sa.BigInteger),
        sa.Column("dropped_rows", sa.BigInteger, nullable=False),
        sa.Column("dropped_requests", sa.Integer, nullable=False),
        sa.Column("sampled_out", sa.BigInteger, nullable=False),
        sa.Column("columns", sa.JSON),
        sa.Column("server", sa.String(32)),
        sa.Column("pid", sa.Integer),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_prediction_segments"),
    )
    op.create_index("ix_prediction_segments_model_last_at", "prediction_segments", ["model", "last_at"])
    op.create_index("ix_prediction_segments_model_data_last", "prediction_segments", ["model", "data_last"])
    op.create_index("ix_prediction_segments_digest", "prediction_segments", ["digest"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("label", sa.JSON),
        sa.Column("request_id", sa.String(255)),
        sa.Column("row", sa.Integer),
        sa.Column("entity", sa.String(255)),
        sa.Column("at", sa.Double),
        sa.Column("received_at", sa.Double, nullable=False),
        sa.Column("key", sa.String(255)),
        sa.Column("pred_request_id", sa.String(255)),
        sa.Column("pred_row", sa.Integer),
        sa.Column("pred_version", sa.Integer),
        sa.Column("pred_at", sa.Double),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
    )
    op.create_index("ix_feedback_model_pred_at", "feedback", ["model", "pred_at"])
    op.create_index("ix_feedback_model_pred_request_id", "feedback", ["model", "pred_request_id"])
    op.create_index("ix_feedback_model_received_at", "feedback", ["model", "received_at"])


def downgrade():
    for ix in ("ix_feedback_model_received_at", "ix_feedback_model_pred_request_id", "ix_feedback_model_pred_at"):
        op.drop_index(ix, "feedback")
    op.drop_table("feedback")
    for ix in ("ix_prediction_segments_digest", "ix_prediction_segments_model_data_last", "ix_prediction_segments_model_last_at"):
        op.drop_index(ix, "prediction_segments")
    op.drop_table("prediction_segments")
