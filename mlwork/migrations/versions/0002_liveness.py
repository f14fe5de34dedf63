"""Run liveness and run summaries.

- host, pid and heartbeat, so that a run whose process died is marked FAILED;
- params_json, metrics_json and tags_json: a JSON summary per run (params, latest metrics, tags),
  so that listing many runs reads one row per run. Existing runs get their summaries here.

Revision ID: 0002
Revises: 0001
"""
import json
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("runs", sa.Column("host", sa.String(255)))
    op.add_column("runs", sa.Column("pid", sa.Integer))
    op.add_column("runs", sa.Column("heartbeat_at", sa.Double))
    op.add_column("runs", sa.Column("params_json", sa.Text))
    op.add_column("runs", sa.Column("metrics_json", sa.Text))
    op.add_column("runs", sa.Column("tags_json", sa.Text))
    op.create_index("ix_runs_status", "runs", ["status"])
    conn = op.get_bind()
    summary = {}
    for col, sql in (("params_json", "SELECT run_id, key, value, num FROM params"),
                     ("metrics_json", "SELECT run_id, key, value, NULL FROM latest_metrics"),
                     ("tags_json", "SELECT run_id, key, value, NULL FROM tags")):
        for run_id, key, value, num in conn.execute(sa.text(sql)):
            v = num if (col == "params_json" and num is not None) else value
            summary.setdefault(run_id, {}).setdefault(col, {})[key] = v
    update = sa.text("UPDATE runs SET params_json = :p, metrics_json = :m, tags_json = :t WHERE id = :id")
    rows = [{"id": rid, "p": json.dumps(d.get("params_json", {})), "m": json.dumps(d.get("metrics_json", {})),
             "t": json.dumps(d.get("tags_json", {}))} for rid, d in summary.items()]
    if rows: conn.execute(update, rows)
    conn.execute(sa.text("UPDATE runs SET tags_json = '{}' WHERE tags_json IS NULL"))


def downgrade():
    op.drop_index("ix_runs_status", "runs")
    with op.batch_alter_table("runs") as batch:
        for col in ("tags_json", "metrics_json", "params_json", "heartbeat_at", "pid", "host"):
            batch.drop_column(col)
