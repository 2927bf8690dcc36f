"""services schema: sign-in nonces, sessions (refresh-token families), refresh-token digests

Revision ID: s0001
Revises:
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = 's0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('auth_nonces',
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('issued_at_ms', sa.BigInteger(), nullable=False),
    sa.Column('expires_at_ms', sa.BigInteger(), nullable=False),
    sa.Column('used_at_ms', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('nonce')
    )
    op.create_index('ix_auth_nonces_expires_at_ms', 'auth_nonces', ['expires_at_ms'])
    op.create_table('auth_sessions',
    sa.Column('session_id', sa.String(length=32), nullable=False),
    sa.Column('address', sa.String(length=42), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('chain_id', sa.BigInteger(), nullable=False),
    sa.Column('created_at_ms', sa.BigInteger(), nullable=False),
    sa.Column('revoked_at_ms', sa.BigInteger(), nullable=True),
    sa.Column('revoked_reason', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('session_id')
    )
    op.create_index('ix_auth_sessions_address', 'auth_sessions', ['address'])
    op.create_table('auth_refresh_tokens',
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('session_id', sa.String(length=32), nullable=False),
    sa.Column('issued_at_ms', sa.BigInteger(), nullable=False),
    sa.Column('expires_at_ms', sa.BigInteger(), nullable=False),
    sa.Column('used_at_ms', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('token_sha256')
    )
    op.create_index('ix_auth_refresh_tokens_session', 'auth_refresh_tokens', ['session_id'])


def downgrade() -> None:
    op.drop_index('ix_auth_refresh_tokens_session', table_name='auth_refresh_tokens')
    op.drop_table('auth_refresh_tokens')
    op.drop_index('ix_auth_sessions_address', table_name='auth_sessions')
    op.drop_table('auth_sessions')
    op.drop_index('ix_auth_nonces_expires_at_ms', table_name='auth_nonces')
    op.drop_table('auth_nonces')
