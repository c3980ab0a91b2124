"""drop the indexes a unique constraint already serves (its first column): every row a first
sync writes paid for both (1.6 s of a 100,000-person first sync, issue 11)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# (table, index, column): uq_account_app_external, uq_grant and uq_attribute_value lead with it
REDUNDANT = (
    ("account", "ix_account_app_id", "app_id"),
    ("grant", "ix_grant_account_id", "account_id"),
    ("attribute_value", "ix_attribute_value_user_id", "user_id"),
)


def upgrade() -> None:
    for table, index, _ in REDUNDANT:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(index)


def downgrade() -> None:
    for table, index, column in REDUNDANT:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(index, [column], unique=False)
