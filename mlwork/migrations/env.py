"""Alembic environment for mlwork stores.

mlwork runs migrations itself (``Store.upgrade`` / ``mlwork db upgrade``) on a connection that
is already inside a write transaction; Alembic then neither begins nor commits.
"""
from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("mlwork migrations run through `mlwork db upgrade`, which passes a connection.")
context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
