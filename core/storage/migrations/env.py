"""Alembic environment. Helpline calls migrations with a live connection (see
core.storage.db.Database.upgrade); the CLI `helpline db upgrade` does the same."""

from __future__ import annotations

from alembic import context

from core.storage.tables import Base

target_metadata = Base.metadata
connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations through `helpline db upgrade` (it supplies the connection).")

context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
