"""mechanisms: wake the outbox relay on commit (PostgreSQL LISTEN/NOTIFY)

Revision ID: m0005
Revises: m0004

A statement-level trigger notifies `bridgeline_outbox` whenever rows are inserted into
the outbox; PostgreSQL delivers it at commit (never for a rolled-back transaction) and
folds one transaction's notifications into one. Idle relays LISTEN on that channel
(`shared.messaging.notify`). SQLite has no notifications: nothing to do there.

The price: a notifying transaction takes PostgreSQL's cluster-wide notification lock
at commit, so transactions that write events commit one after another (about 4,000/s
on the 2-core bench machine, see docs/capacity.md). Dropping the trigger is safe: the
relays then find new rows by polling alone.
"""

from alembic import op

revision = "m0005"
down_revision = "m0004"
branch_labels = None
depends_on = None

CHANNEL = "bridgeline_outbox"  # shared.messaging.notify.OUTBOX_CHANNEL


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_notify('{CHANNEL}', ''); RETURN NULL; END $$""")
    op.execute("CREATE TRIGGER outbox_notify AFTER INSERT ON outbox "
               "FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
    op.execute("DROP FUNCTION IF EXISTS outbox_notify()")
