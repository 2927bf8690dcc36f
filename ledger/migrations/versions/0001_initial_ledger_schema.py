"""initial ledger schema: tables, indexes, append-only triggers, and kogi_seal() on PostgreSQL

Revision ID: 0001
Revises: 
Create Date: 2026-11-24
"""
from alembic import op
import sqlalchemy as sa

from ledger.amounts import AmountUnits


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('balances',
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('asset_id', sa.BigInteger(), nullable=False),
    sa.Column('ledger_id', sa.BigInteger(), nullable=False),
    sa.Column('debits_posted_units', AmountUnits(), nullable=False),
    sa.Column('credits_posted_units', AmountUnits(), nullable=False),
    sa.Column('debits_pending_units', AmountUnits(), nullable=False),
    sa.Column('credits_pending_units', AmountUnits(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('account_id', 'asset_id')
    )
    op.create_table('entry_seals',
    sa.Column('ledger_id', sa.BigInteger(), nullable=False),
    sa.Column('sequence', sa.BigInteger(), nullable=False),
    sa.Column('entry_id', sa.String(length=32), nullable=False),
    sa.Column('recorded_at_us', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('ledger_id', 'sequence'),
    sa.UniqueConstraint('entry_id')
    )
    with op.batch_alter_table('entry_seals', schema=None) as batch_op:
        batch_op.create_index('ix_entry_seals_recorded', ['ledger_id', 'recorded_at_us'], unique=False)

    op.create_table('holds',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('ledger_id', sa.BigInteger(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('debit_account_id', sa.BigInteger(), nullable=False),
    sa.Column('credit_account_id', sa.BigInteger(), nullable=False),
    sa.Column('asset_id', sa.BigInteger(), nullable=False),
    sa.Column('amount_units', AmountUnits(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('expires_at_us', sa.BigInteger(), nullable=True),
    sa.Column('created_at_us', sa.BigInteger(), nullable=False),
    sa.Column('resolved_at_us', sa.BigInteger(), nullable=True),
    sa.Column('posted_entry_id', sa.String(length=32), nullable=True),
    sa.Column('metadata_json', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ledger_id', 'idempotency_key')
    )
    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.create_index('ix_holds_pending_expiry', ['ledger_id', 'status', 'expires_at_us'], unique=False)

    op.create_table('ledgers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_table('postings',
    sa.Column('posting_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('entry_id', sa.String(length=32), nullable=False),
    sa.Column('leg_index', sa.SmallInteger(), nullable=False),
    sa.Column('ledger_id', sa.BigInteger(), nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('asset_id', sa.BigInteger(), nullable=False),
    sa.Column('side', sa.String(length=1), nullable=False),
    sa.Column('amount_units', AmountUnits(), nullable=False),
    sa.Column('debits_after_units', AmountUnits(), nullable=False),
    sa.Column('credits_after_units', AmountUnits(), nullable=False),
    sa.PrimaryKeyConstraint('posting_seq'),
    sa.UniqueConstraint('entry_id', 'leg_index')
    )
    with op.batch_alter_table('postings', schema=None) as batch_op:
        batch_op.create_index('ix_postings_account_asset_seq', ['account_id', 'asset_id', 'posting_seq'], unique=False)

    op.create_table('account_templates',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('ledger_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('pattern', sa.String(length=256), nullable=False),
    sa.Column('accounting_type', sa.String(length=16), nullable=False),
    sa.Column('no_overdraft', sa.Boolean(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['ledger_id'], ['ledgers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ledger_id', 'pattern')
    )
    op.create_table('accounts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('ledger_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=256), nullable=False),
    sa.Column('accounting_type', sa.String(length=16), nullable=False),
    sa.Column('no_overdraft', sa.Boolean(), nullable=False),
    sa.Column('metadata_json', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ledger_id'], ['ledgers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ledger_id', 'code')
    )
    op.create_table('assets',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('ledger_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=128), nullable=False),
    sa.Column('scale', sa.SmallInteger(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('chain_id', sa.BigInteger(), nullable=True),
    sa.Column('contract_address', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ledger_id'], ['ledgers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ledger_id', 'code')
    )
    op.create_table('journal_entries',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('ledger_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('effective_at_us', sa.BigInteger(), nullable=False),
    sa.Column('external_ref', sa.String(length=256), nullable=True),
    sa.Column('reverses_entry_id', sa.String(length=32), nullable=True),
    sa.Column('metadata_json', sa.Text(), nullable=False),
    sa.Column('body_digest', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['ledger_id'], ['ledgers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ledger_id', 'external_ref'),
    sa.UniqueConstraint('ledger_id', 'idempotency_key'),
    sa.UniqueConstraint('ledger_id', 'reverses_entry_id')
    )
    op.create_table('ledger_heads',
    sa.Column('ledger_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('last_sequence', sa.BigInteger(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.Column('last_recorded_at_us', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['ledger_id'], ['ledgers.id'], ),
    sa.PrimaryKeyConstraint('ledger_id')
    )

    _create_append_only_triggers()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(KOGI_SEAL_FUNCTION)


APPEND_ONLY_TABLES = ("journal_entries", "entry_seals", "postings")

# The chain link of ledger.chain.link_hash, computed server-side under the head lock so
# the serialised part of a write is one statement plus COMMIT. ledger.chain documents
# the formula; `kogi ledger verify` recomputes it in Python, so both must agree.
KOGI_SEAL_FUNCTION = """
CREATE FUNCTION kogi_seal(p_ledger_id bigint, p_entry_ids varchar[], p_digests varchar[], p_now_us bigint)
RETURNS TABLE (out_first_sequence bigint, out_recorded_at_us bigint, out_hashes varchar[]) AS $$
DECLARE
    v_sequence bigint;
    v_hash varchar;
    v_recorded bigint;
    v_first bigint;
    v_hashes varchar[] := '{}';
BEGIN
    SELECT h.last_sequence, h.last_hash, GREATEST(p_now_us, h.last_recorded_at_us)
      INTO v_sequence, v_hash, v_recorded
      FROM ledger_heads h WHERE h.ledger_id = p_ledger_id FOR UPDATE;
    v_first := v_sequence + 1;
    FOR i IN 1 .. coalesce(array_length(p_entry_ids, 1), 0) LOOP
        v_sequence := v_sequence + 1;
        v_hash := encode(sha256(decode(v_hash, 'hex') || int8send(v_sequence) || int8send(v_recorded)
                                || convert_to(p_entry_ids[i], 'UTF8') || decode(p_digests[i], 'hex')), 'hex');
        v_hashes := array_append(v_hashes, v_hash);
    END LOOP;
    INSERT INTO entry_seals (ledger_id, sequence, entry_id, recorded_at_us, hash)
    SELECT p_ledger_id, v_first + t.o - 1, t.e, v_recorded, t.h
      FROM unnest(p_entry_ids, v_hashes) WITH ORDINALITY AS t(e, h, o);
    UPDATE ledger_heads SET last_sequence = v_sequence, last_hash = v_hash, last_recorded_at_us = v_recorded
     WHERE ledger_id = p_ledger_id;
    RETURN QUERY SELECT v_first, v_recorded, v_hashes;
END
$$ LANGUAGE plpgsql
"""


def _create_append_only_triggers() -> None:
    """UPDATE/DELETE (and TRUNCATE on PostgreSQL) of journal rows are rejected by the database."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION kogi_reject_journal_mutation() RETURNS trigger AS $$
            BEGIN
              RAISE EXCEPTION 'kogi: journal is append-only (% on % rejected)', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'raise_exception';
            END
            $$ LANGUAGE plpgsql
            """
        )
        for table in APPEND_ONLY_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION kogi_reject_journal_mutation()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION kogi_reject_journal_mutation()"
            )
    else:
        for table in APPEND_ONLY_TABLES:
            for operation in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'kogi: journal is append-only ({operation} on {table} rejected)'); END"
                )


def downgrade() -> None:
    bind = op.get_bind()
    for table in APPEND_ONLY_TABLES:
        if bind.dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS kogi_reject_journal_mutation()")
        op.execute("DROP FUNCTION IF EXISTS kogi_seal(bigint, varchar[], varchar[], bigint)")
    op.drop_table('ledger_heads')
    op.drop_table('journal_entries')
    op.drop_table('assets')
    op.drop_table('accounts')
    op.drop_table('account_templates')
    with op.batch_alter_table('postings', schema=None) as batch_op:
        batch_op.drop_index('ix_postings_account_asset_seq')

    op.drop_table('postings')
    op.drop_table('ledgers')
    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.drop_index('ix_holds_pending_expiry')

    op.drop_table('holds')
    with op.batch_alter_table('entry_seals', schema=None) as batch_op:
        batch_op.drop_index('ix_entry_seals_recorded')

    op.drop_table('entry_seals')
    op.drop_table('balances')
