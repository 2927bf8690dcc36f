"""The services' own tables (SQLAlchemy 2 typed models): sign-in nonces and refresh-token families.

They live in the API's database with their own metadata and their own Alembic chain
(`services/migrations`, version table `alembic_version_services`), like the indexer's. Times are
integer milliseconds since the epoch (`*_ms`): compared in SQL the same way on SQLite and PostgreSQL.

- auth_nonces: every nonce `GET /v1/auth/nonce` issued, until it expires; `used_at_ms` is set by
  the one sign-in that consumes it (a conditional UPDATE: a replay finds it set).
- auth_sessions: one row per sign-in (a refresh-token family); `revoked_at_ms` ends every token of it.
- auth_refresh_tokens: SHA-256 digests of refresh tokens (the tokens themselves are never stored);
  `used_at_ms` is set when a token is rotated, so presenting it again is detected as reuse.
- api_keys (revision s0002): other platform services' keys, as SHA-256 digests only, with their
  scopes (space-separated), optional expiry, revocation and last use (services/api_keys.py).
- audit_log, audit_head (revision s0003): the append-only, hash-chained audit log (services/audit.py).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class ServicesBase(DeclarativeBase):
    pass


class NonceRow(ServicesBase):
    __tablename__ = "auth_nonces"
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    issued_at_ms: Mapped[int] = mapped_column(BigInteger)
    expires_at_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    used_at_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class SessionRow(ServicesBase):
    __tablename__ = "auth_sessions"
    session_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    address: Mapped[str] = mapped_column(String(42), index=True)
    tenant: Mapped[str] = mapped_column(String(64))
    chain_id: Mapped[int] = mapped_column(BigInteger)
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
    revoked_at_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)


class RefreshTokenRow(ServicesBase):
    __tablename__ = "auth_refresh_tokens"
    __table_args__ = (Index("ix_auth_refresh_tokens_session", "session_id"),)
    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(32))
    issued_at_ms: Mapped[int] = mapped_column(BigInteger)
    expires_at_ms: Mapped[int] = mapped_column(BigInteger)
    used_at_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ApiKeyRow(ServicesBase):
    __tablename__ = "api_keys"
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[str] = mapped_column(String(400))
    tenant: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
    expires_at_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoked_at_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_used_at_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class AuditRecordRow(ServicesBase):
    """audit_log (revision s0003): append-only (UPDATE/DELETE refused by triggers), hash-chained."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_action", "action", "sequence"),
        Index("ix_audit_log_actor", "actor", "sequence"),
    )
    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    record_id: Mapped[str] = mapped_column(String(32), unique=True)
    recorded_at_us: Mapped[int] = mapped_column(BigInteger)
    tenant: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    before_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    after_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    body_digest: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(ServicesBase):
    """The audit chain's head (one row): its UPDATE serialises appenders on PostgreSQL."""

    __tablename__ = "audit_head"
    chain: Mapped[str] = mapped_column(String(16), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
