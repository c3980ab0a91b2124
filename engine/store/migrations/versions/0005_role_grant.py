"""roles: who may look, sync or change the configuration (DESIGN §14); the OS user who created
the store (the actor of its first audit event or run) is its admin

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "role_grant",
        sa.Column("os_user", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("granted_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("granted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("os_user"),
    )
    # a store from before roles: whoever did the first thing with it (a configuration import
    # or a run, whichever came first) created it; a store with no history gets its admin when
    # first opened (engine.store.role_grants.ensure_admin)
    connection = op.get_bind()
    first = connection.execute(
        sa.text(
            "SELECT who FROM ("
            " SELECT actor AS who, at AS time, 0 AS kind FROM audit_event WHERE actor != ''"
            " UNION ALL"
            " SELECT started_by AS who, started_at AS time, 1 AS kind FROM run"
            " WHERE started_by != ''"
            ") AS done ORDER BY time, kind LIMIT 1"
        )
    ).first()
    creator = first[0] if first else None
    if creator:
        op.bulk_insert(
            table,
            [
                {
                    "os_user": creator,
                    "role": "admin",
                    "granted_by": "(created the store)",
                    "granted_at": datetime.now(UTC),
                }
            ],
        )


def downgrade() -> None:
    op.drop_table("role_grant")
