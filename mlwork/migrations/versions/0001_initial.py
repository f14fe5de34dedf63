"""The first schema: experiments, runs, params, metrics, tags, artifacts, datasets, registry, jobs.

A frozen copy of the tables as they were at revision 0001; later revisions change them.

Revision ID: 0001
Revises:
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy import Column, ForeignKey

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Key, Name, Digest, RunId, Time = sa.String(250), sa.String(255), sa.String(64), sa.String(32), sa.Double


def upgrade():
    op.create_table("experiments",
        Column("id", sa.Integer, primary_key=True, autoincrement=True),
        Column("name", Name, nullable=False),
        Column("description", sa.Text),
        Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_experiments"),
        sa.UniqueConstraint("name", name="uq_experiments_name"))
    op.create_table("jobs",
        Column("id", RunId, nullable=False),
        Column("notebook", sa.Text, nullable=False),
        Column("parameters", sa.JSON),
        Column("status", sa.String(16), nullable=False),
        Column("executor", sa.String(255)),
        Column("created_at", Time, nullable=False),
        Column("start_time", Time), Column("end_time", Time),
        Column("output_digest", Digest), Column("html_digest", Digest),
        Column("error", sa.JSON),
        Column("host", sa.String(255)), Column("pid", sa.Integer),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"))
    op.create_table("runs",
        Column("id", RunId, nullable=False),
        Column("experiment_id", sa.Integer, nullable=False),
        Column("name", Name),
        Column("status", sa.String(16), nullable=False),
        Column("parent_id", RunId), Column("job_id", RunId), Column("rerun_of", RunId),
        Column("start_time", Time, nullable=False),
        Column("end_time", Time),
        Column("error", sa.Text),
        Column("user", sa.String(255)),
        Column("code_commit", sa.String(64)), Column("code_dirty", sa.Boolean),
        Column("code_path", sa.Text), Column("code_digest", Digest),
        Column("python_version", sa.String(32)), Column("env_digest", Digest),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.id"], name="fk_runs_experiment_id_experiments"),
        sa.ForeignKeyConstraint(["parent_id"], ["runs.id"], name="fk_runs_parent_id_runs"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_runs_job_id_jobs"),
        sa.ForeignKeyConstraint(["rerun_of"], ["runs.id"], name="fk_runs_rerun_of_runs"))
    op.create_index("ix_runs_experiment_id_start_time", "runs", ["experiment_id", "start_time"])
    op.create_table("params",
        Column("run_id", RunId, nullable=False), Column("key", Key, nullable=False),
        Column("value", sa.Text, nullable=False), Column("num", sa.Double),
        sa.PrimaryKeyConstraint("run_id", "key", name="pk_params"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_params_run_id_runs"),
        sqlite_with_rowid=False)
    op.create_table("metrics",
        Column("run_id", RunId, nullable=False), Column("key", Key, nullable=False),
        Column("step", sa.BigInteger, nullable=False), Column("timestamp", Time, nullable=False),
        Column("value", sa.Double, nullable=False), Column("is_nan", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key", "step", "timestamp", "value", name="pk_metrics"),
        sqlite_with_rowid=False)
    op.create_table("latest_metrics",
        Column("run_id", RunId, nullable=False), Column("key", Key, nullable=False),
        Column("step", sa.BigInteger, nullable=False), Column("value", sa.Double),
        Column("timestamp", Time, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key", name="pk_latest_metrics"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_latest_metrics_run_id_runs"),
        sqlite_with_rowid=False)
    op.create_table("tags",
        Column("run_id", RunId, nullable=False), Column("key", Key, nullable=False),
        Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key", name="pk_tags"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_tags_run_id_runs"),
        sqlite_with_rowid=False)
    op.create_table("artifacts",
        Column("run_id", RunId, nullable=False), Column("path", sa.String(1000), nullable=False),
        Column("digest", Digest, nullable=False), Column("size", sa.BigInteger, nullable=False),
        Column("media_type", sa.String(100)), Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "path", name="pk_artifacts"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_artifacts_run_id_runs"),
        sqlite_with_rowid=False)
    op.create_index("ix_artifacts_digest", "artifacts", ["digest"])
    op.create_table("dataset_versions",
        Column("id", sa.Integer, autoincrement=True, nullable=False),
        Column("name", Name, nullable=False), Column("version", sa.Integer, nullable=False),
        Column("digest", Digest, nullable=False),
        Column("rows", sa.BigInteger), Column("n_columns", sa.Integer),
        Column("schema", sa.JSON), Column("profile", sa.JSON),
        Column("artifact_digest", Digest), Column("run_id", RunId),
        Column("description", sa.Text), Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dataset_versions"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_dataset_versions_run_id_runs"),
        sa.UniqueConstraint("name", "version", name="uq_dataset_versions_name_version"),
        sa.UniqueConstraint("name", "digest", name="uq_dataset_versions_name_digest"))
    op.create_table("run_datasets",
        Column("run_id", RunId, nullable=False),
        Column("dataset_version_id", sa.Integer, nullable=False),
        Column("role", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "dataset_version_id", "role", name="pk_run_datasets"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_datasets_run_id_runs"),
        sa.ForeignKeyConstraint(["dataset_version_id"], ["dataset_versions.id"],
                                name="fk_run_datasets_dataset_version_id_dataset_versions"))
    op.create_index("ix_run_datasets_dataset_version_id", "run_datasets", ["dataset_version_id"])
    op.create_table("models",
        Column("name", Name, nullable=False), Column("description", sa.Text),
        Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_models"))
    op.create_table("model_versions",
        Column("id", sa.Integer, autoincrement=True, nullable=False),
        Column("name", Name, nullable=False), Column("version", sa.Integer, nullable=False),
        Column("run_id", RunId), Column("artifact_digest", Digest),
        Column("signature", sa.JSON), Column("flavor", sa.String(64)),
        Column("archived", sa.Boolean, nullable=False), Column("description", sa.Text),
        Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.ForeignKeyConstraint(["name"], ["models.name"], name="fk_model_versions_name_models"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_model_versions_run_id_runs"),
        sa.UniqueConstraint("name", "version", name="uq_model_versions_name_version"))
    op.create_table("events",
        Column("id", sa.Integer, autoincrement=True, nullable=False),
        Column("at", Time, nullable=False), Column("who", sa.String(255), nullable=False),
        Column("action", sa.String(64), nullable=False),
        Column("model", Name), Column("version", sa.Integer), Column("alias", Key),
        Column("reason", sa.Text), Column("details", sa.JSON),
        sa.PrimaryKeyConstraint("id", name="pk_events"))
    op.create_index("ix_events_model_at", "events", ["model", "at"])
    op.create_table("aliases",
        Column("name", Name, nullable=False), Column("alias", Key, nullable=False),
        Column("version", sa.Integer, nullable=False), Column("updated_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("name", "alias", name="pk_aliases"),
        sa.ForeignKeyConstraint(["name"], ["models.name"], name="fk_aliases_name_models"))
    op.create_table("alias_history",
        Column("id", sa.Integer, autoincrement=True, nullable=False),
        Column("name", Name, nullable=False), Column("alias", Key, nullable=False),
        Column("version", sa.Integer), Column("previous_version", sa.Integer),
        Column("at", Time, nullable=False), Column("event_id", sa.Integer),
        sa.PrimaryKeyConstraint("id", name="pk_alias_history"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name="fk_alias_history_event_id_events"))
    op.create_index("ix_alias_history_name_alias_at", "alias_history", ["name", "alias", "at"])
    op.create_table("drift_reports",
        Column("id", sa.Integer, autoincrement=True, nullable=False),
        Column("model", Name), Column("version", sa.Integer),
        Column("reference_id", sa.Integer), Column("current_id", sa.Integer), Column("job_id", RunId),
        Column("created_at", Time, nullable=False),
        Column("dataset_drift", sa.Boolean), Column("drift_share", sa.Double), Column("report", sa.JSON),
        sa.PrimaryKeyConstraint("id", name="pk_drift_reports"),
        sa.ForeignKeyConstraint(["reference_id"], ["dataset_versions.id"], name="fk_drift_reports_reference_id_dataset_versions"),
        sa.ForeignKeyConstraint(["current_id"], ["dataset_versions.id"], name="fk_drift_reports_current_id_dataset_versions"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_drift_reports_job_id_jobs"))


def downgrade():
    for t in ("drift_reports", "alias_history", "aliases", "events", "model_versions", "models",
              "run_datasets", "dataset_versions", "artifacts", "tags", "latest_metrics", "metrics",
              "params", "runs", "jobs", "experiments"):
        op.drop_table(t)
