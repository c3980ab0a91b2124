"""Alembic environment: runs on the connection Database.migrate() hands over."""

from alembic import context
from sqlmodel import SQLModel

import engine.store.models  # noqa: F401  (registers the tables on SQLModel.metadata)

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when alembic is run by hand
    raise SystemExit("Run migrations through `roster` (engine.store.db.Database.migrate).")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
