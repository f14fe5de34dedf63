"""Live traffic (issue 16): traffic policies set at run time, leases of the continuous-training loop, shadow segments.

- traffic: model name -> the policy its servers follow (canary, A/B, shadow or none) as JSON, with a generation
  that every change increments (servers watch it like an alias) and the audited event of the change.
- leases: name -> holder and expiry; one driver at a time acts for a model.
- prediction_segments.shadow: the segment holds what a shadow answered in the background (never sent to a caller).

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "traffic",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("policy", sa.JSON, nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("event_id", sa.Integer),
        sa.PrimaryKeyConstraint("name", name="pk_traffic"),
        sa.ForeignKeyConstraint(["name"], ["models.name"], name="fk_traffic_name_models"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name="fk_traffic_event_id_events"),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("acquired_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )
    with op.batch_alter_table("prediction_segments") as b:
        b.add_column(sa.Column("shadow", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table("prediction_segments") as b:
        b.drop_column("shadow")
    op.drop_table("leases")
    op.drop_table("traffic")
