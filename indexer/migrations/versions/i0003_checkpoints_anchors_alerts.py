"""indexer checkpoints (ledger as of a block), anchors (LedgerAnchored), alerts (outbox)

Revision ID: i0003
Revises: i0002
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa


revision = 'i0003'
down_revision = 'i0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('indexer_checkpoints',
    sa.Column('chain_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('block_number', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('block_hash', sa.String(length=66), nullable=False),
    sa.Column('ledger', sa.String(length=64), nullable=False),
    sa.Column('entry_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('chain_id', 'block_number')
    )
    op.create_table('indexer_anchors',
    sa.Column('chain_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('contract', sa.String(length=42), nullable=False),
    sa.Column('ledger_key', sa.String(length=66), nullable=False),
    sa.Column('anchor_index', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('from_sequence', sa.BigInteger(), nullable=False),
    sa.Column('to_sequence', sa.BigInteger(), nullable=False),
    sa.Column('merkle_root', sa.String(length=66), nullable=False),
    sa.Column('submitter', sa.String(length=42), nullable=False),
    sa.Column('block_number', sa.BigInteger(), nullable=False),
    sa.Column('block_hash', sa.String(length=66), nullable=False),
    sa.Column('tx_hash', sa.String(length=66), nullable=False),
    sa.Column('log_index', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('chain_id', 'contract', 'ledger_key', 'anchor_index')
    )
    op.create_index('ix_indexer_anchors_block', 'indexer_anchors', ['chain_id', 'block_number'], unique=False)
    op.create_table('indexer_alerts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('chain_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_indexer_alerts_open', 'indexer_alerts', ['chain_id', 'acknowledged_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_indexer_alerts_open', table_name='indexer_alerts')
    op.drop_table('indexer_alerts')
    op.drop_index('ix_indexer_anchors_block', table_name='indexer_anchors')
    op.drop_table('indexer_anchors')
    op.drop_table('indexer_checkpoints')
