"""access requests: the source's id and email, fulfilment by a provisioning run

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_request", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "request_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=""
            )
        )
        batch_op.add_column(
            sa.Column(
                "user_email", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=""
            )
        )
        batch_op.add_column(sa.Column("fulfilled_run_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("fulfilled_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "account", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=""
            )
        )
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=True)
    # rows from before (nothing wrote them, but be safe) get an id of their own: it is unique
    op.execute("UPDATE access_request SET request_id = 'request-' || id WHERE request_id = ''")
    with op.batch_alter_table("access_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_access_request_request_id"), ["request_id"], unique=True
        )
        batch_op.create_foreign_key(
            "fk_access_request_fulfilled_run_id_run", "run", ["fulfilled_run_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("access_request", schema=None) as batch_op:
        batch_op.drop_constraint("fk_access_request_fulfilled_run_id_run", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_access_request_request_id"))
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("account")
        batch_op.drop_column("fulfilled_at")
        batch_op.drop_column("fulfilled_run_id")
        batch_op.drop_column("user_email")
        batch_op.drop_column("request_id")
