"""indexer schema: cursors, recent blocks, their entries, followed contracts

Revision ID: i0001
Revises:
Create Date: 2026-11-24
"""
from alembic import op
import sqlalchemy as sa


revision = 'i0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('indexer_cursors',
    sa.Column('chain_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('last_block', sa.BigInteger(), nullable=False),
    sa.Column('last_block_hash', sa.String(length=66), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('chain_id')
    )
    op.create_table('indexer_blocks',
    sa.Column('chain_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('number', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.String(length=66), nullable=False),
    sa.Column('parent_hash', sa.String(length=66), nullable=False),
    sa.PrimaryKeyConstraint('chain_id', 'number')
    )
    op.create_table('indexer_block_entries',
    sa.Column('chain_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('entry_id', sa.String(length=64), nullable=False),
    sa.Column('block_number', sa.BigInteger(), nullable=False),
    sa.Column('block_hash', sa.String(length=66), nullable=False),
    sa.Column('ordinal', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('chain_id', 'entry_id')
    )
    op.create_index('ix_indexer_block_entries_block', 'indexer_block_entries', ['chain_id', 'block_number'])
    op.create_table('indexer_contracts',
    sa.Column('chain_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('address', sa.String(length=42), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('portfolio_id', sa.BigInteger(), nullable=True),
    sa.Column('discovered_at_block', sa.BigInteger(), nullable=False),
    sa.Column('asset_address', sa.String(length=42), nullable=True),
    sa.PrimaryKeyConstraint('chain_id', 'address')
    )


def downgrade() -> None:
    op.drop_table('indexer_contracts')
    op.drop_index('ix_indexer_block_entries_block', table_name='indexer_block_entries')
    op.drop_table('indexer_block_entries')
    op.drop_table('indexer_blocks')
    op.drop_table('indexer_cursors')
