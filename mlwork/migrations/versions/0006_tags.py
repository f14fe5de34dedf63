"""Tags of experiments, registered models and model versions (issue 19).

- experiment_tags: (experiment, key) -> value, like a run's tags; MLflow's experiment tags come across here.
- model_tags: (model name, key) -> value, the tags of a registered model as a whole.
- model_version_tags: (model name, version, key) -> value, the tags of one version (it must exist).

Before this revision the importer kept registry tags only in the details of its `imported` audit events and
dropped experiment tags; importing again after the upgrade fills these tables.

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "experiment_tags",
        sa.Column("experiment_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", "key", name="pk_experiment_tags"),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.id"], name="fk_experiment_tags_experiment_id_experiments"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "model_tags",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("name", "key", name="pk_model_tags"),
        sa.ForeignKeyConstraint(["name"], ["models.name"], name="fk_model_tags_name_models"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "model_version_tags",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("name", "version", "key", name="pk_model_version_tags"),
        sa.ForeignKeyConstraint(["name", "version"], ["model_versions.name", "model_versions.version"],
                                name="fk_model_version_tags_name_model_versions"),
        sqlite_with_rowid=False,
    )


def downgrade():
    op.drop_table("model_version_tags")
    op.drop_table("model_tags")
    op.drop_table("experiment_tags")
