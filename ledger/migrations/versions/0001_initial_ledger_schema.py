"""initial ledger schema: tables, indexes and the append-only triggers on the journal

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
    sa.Column('entry_id', sa.String(length=32), nullable=False),
    sa.Column('leg_index', sa.SmallInteger(), nullable=False),
    sa.Column('ledger_id', sa.BigInteger(), nullable=False),
    sa.Column('sequence', sa.BigInteger(), nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('asset_id', sa.BigInteger(), nullable=False),
    sa.Column('side', sa.String(length=1), nullable=False),
    sa.Column('amount_units', AmountUnits(), nullable=False),
    sa.Column('debits_after_units', AmountUnits(), nullable=False),
    sa.Column('credits_after_units', AmountUnits(), nullable=False),
    sa.PrimaryKeyConstraint('entry_id', 'leg_index')
    )
    with op.batch_alter_table('postings', schema=None) as batch_op:
        batch_op.create_index('ix_postings_account_asset_seq', ['account_id', 'asset_id', 'sequence', 'leg_index'], unique=False)
        batch_op.create_index('ix_postings_ledger_seq', ['ledger_id', 'sequence'], unique=False)

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
    sa.Column('sequence', sa.BigInteger(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('effective_at_us', sa.BigInteger(), nullable=False),
    sa.Column('recorded_at_us', sa.BigInteger(), nullable=False),
    sa.Column('external_ref', sa.String(length=256), nullable=True),
    sa.Column('reverses_entry_id', sa.String(length=32), nullable=True),
    sa.Column('metadata_json', sa.Text(), nullable=False),
    sa.Column('body_digest', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['ledger_id'], ['ledgers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ledger_id', 'external_ref'),
    sa.UniqueConstraint('ledger_id', 'idempotency_key'),
    sa.UniqueConstraint('ledger_id', 'reverses_entry_id'),
    sa.UniqueConstraint('ledger_id', 'sequence')
    )
    with op.batch_alter_table('journal_entries', schema=None) as batch_op:
        batch_op.create_index('ix_journal_entries_recorded', ['ledger_id', 'recorded_at_us'], unique=False)

    op.create_table('ledger_heads',
    sa.Column('ledger_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('last_sequence', sa.BigInteger(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.Column('last_recorded_at_us', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['ledger_id'], ['ledgers.id'], ),
    sa.PrimaryKeyConstraint('ledger_id')
    )


    _create_append_only_triggers()


APPEND_ONLY_TABLES = ("journal_entries", "postings")


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

    op.drop_table('ledger_heads')
    with op.batch_alter_table('journal_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_journal_entries_recorded')

    op.drop_table('journal_entries')
    op.drop_table('assets')
    op.drop_table('accounts')
    op.drop_table('account_templates')
    with op.batch_alter_table('postings', schema=None) as batch_op:
        batch_op.drop_index('ix_postings_ledger_seq')
        batch_op.drop_index('ix_postings_account_asset_seq')

    op.drop_table('postings')
    op.drop_table('ledgers')
    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.drop_index('ix_holds_pending_expiry')

    op.drop_table('holds')
    op.drop_table('balances')

