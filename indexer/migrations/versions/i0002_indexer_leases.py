"""indexer leases: one active follower per chain, with a fencing epoch

Revision ID: i0002
Revises: i0001
Create Date: 2026-11-24
"""
from alembic import op
import sqlalchemy as sa


revision = 'i0002'
down_revision = 'i0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('indexer_leases',
    sa.Column('chain_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('owner', sa.String(length=128), nullable=False),
    sa.Column('epoch', sa.BigInteger(), nullable=False),
    sa.Column('expires_at_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('chain_id')
    )


def downgrade() -> None:
    op.drop_table('indexer_leases')
