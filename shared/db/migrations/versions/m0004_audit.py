"""mechanisms: audit and disclosure log (hash-chained, append-only)

Revision ID: m0004
Revises: m0003

Besides the tables, triggers refuse what the application must never do: change or
delete an entry, insert one that does not follow the chain head, or move the head other
than one entry forward. They stop mistakes, not the database owner (who can drop them);
the hash chain is what reveals the owner's edits.
"""

import sqlalchemy as sa
from alembic import op

revision = "m0004"
down_revision = "m0003"
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# One condition per rule, shared by both dialects' trigger bodies.
FOLLOWS_HEAD = ("EXISTS (SELECT 1 FROM audit_chain_head h "
                "WHERE h.seq + 1 = NEW.seq AND h.hash = NEW.prev_hash)")
HEAD_MOVE_ALLOWED = ("(NEW.id = OLD.id AND NEW.seq = OLD.seq AND NEW.hash = OLD.hash) OR "
                     "(NEW.id = OLD.id AND NEW.seq = OLD.seq + 1 AND EXISTS (SELECT 1 FROM "
                     "audit_log e WHERE e.seq = NEW.seq AND e.hash = NEW.hash))")

POSTGRESQL_GUARDS = [
    """CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME; END $$""",
    f"""CREATE FUNCTION audit_log_check_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NOT {FOLLOWS_HEAD} THEN RAISE EXCEPTION 'audit entry does not follow the chain head'; END IF;
      RETURN NEW;
    END $$""",
    f"""CREATE FUNCTION audit_chain_head_check_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NOT ({HEAD_MOVE_ALLOWED}) THEN RAISE EXCEPTION 'audit chain head may only advance to an appended entry'; END IF;
      RETURN NEW;
    END $$""",
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()",
    "CREATE TRIGGER audit_log_follows_head BEFORE INSERT ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_check_insert()",
    "CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head "
    "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
    "CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON audit_chain_head "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()",
    "CREATE TRIGGER audit_chain_head_forward_only BEFORE UPDATE ON audit_chain_head "
    "FOR EACH ROW EXECUTE FUNCTION audit_chain_head_check_update()",
]

SQLITE_GUARDS = [
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
    f"CREATE TRIGGER audit_log_follows_head BEFORE INSERT ON audit_log WHEN NOT {FOLLOWS_HEAD} "
    "BEGIN SELECT RAISE(ABORT, 'audit entry does not follow the chain head'); END",
    "CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head "
    "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
    f"CREATE TRIGGER audit_chain_head_forward_only BEFORE UPDATE ON audit_chain_head "
    f"WHEN NOT ({HEAD_MOVE_ALLOWED}) "
    "BEGIN SELECT RAISE(ABORT, 'audit chain head may only advance to an appended entry'); END",
]


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("resource_type", sa.String(40), nullable=False),
        sa.Column("resource_ids", sa.Text, nullable=False),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("purpose", sa.String(40), nullable=False),
        sa.Column("consent_id", sa.String(80), nullable=True),
        sa.Column("recipient_id", sa.String(80), nullable=True),
        sa.Column("recipient_role", sa.String(40), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.CheckConstraint("kind IN ('access', 'disclosure')", name="ck_audit_log_kind"),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_recorded_at", "audit_log", ["recorded_at"])
    op.create_index("ix_audit_log_subject_kind_seq", "audit_log", ["subject", "kind", "seq"])
    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer, autoincrement=False),
        sa.Column("seq", SEQ, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_audit_chain_head_single_row"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_chain_head"),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS_HASH}])
    guards = POSTGRESQL_GUARDS if op.get_bind().dialect.name == "postgresql" else SQLITE_GUARDS
    for statement in guards:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("audit_chain_head")
    op.drop_table("audit_log")
    if op.get_bind().dialect.name == "postgresql":
        for function in ("audit_refuse_change", "audit_log_check_insert",
                         "audit_chain_head_check_update"):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
