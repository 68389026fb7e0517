"""The one alembic environment: the URL comes from the caller (shared.db.migrate)."""

from alembic import context

from shared.db import make_engine

config = context.config
url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")

engine = make_engine(url)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=None,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
