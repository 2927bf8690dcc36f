"""services schema: the append-only, hash-chained audit log (UPDATE/DELETE refused by triggers)

Revision ID: s0003
Revises: s0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "s0003"
down_revision = "s0002"
branch_labels = None
depends_on = None

GENESIS_HASH = "00" * 32  # ledger.chain.GENESIS_HASH (a migration keeps its own constants)


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("sequence", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("record_id", sa.String(length=32), nullable=False),
        sa.Column("recorded_at_us", sa.BigInteger(), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("before_json", sa.Text(), nullable=True),
        sa.Column("after_json", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("body_digest", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("sequence"),
        sa.UniqueConstraint("record_id"),
    )
    op.create_index("ix_audit_log_action", "audit_log", ["action", "sequence"])
    op.create_index("ix_audit_log_actor", "audit_log", ["actor", "sequence"])
    head = op.create_table(
        "audit_head",
        sa.Column("chain", sa.String(length=16), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain"),
    )
    op.bulk_insert(head, [{"chain": "audit", "sequence": 0, "hash": GENESIS_HASH}])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION kogi_reject_audit_mutation() RETURNS trigger AS $$
            BEGIN
              RAISE EXCEPTION 'kogi: the audit log is append-only (% on % rejected)', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'raise_exception';
            END
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION kogi_reject_audit_mutation()"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION kogi_reject_audit_mutation()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{operation.lower()} BEFORE {operation} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, 'kogi: the audit log is append-only ({operation} on audit_log rejected)'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS kogi_reject_audit_mutation()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    op.drop_table("audit_head")
    op.drop_index("ix_audit_log_actor", table_name="audit_log")
    op.drop_index("ix_audit_log_action", table_name="audit_log")
    op.drop_table("audit_log")
