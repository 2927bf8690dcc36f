"""Ledger settings (pydantic-settings, KOGI_ env vars). Embedded default: a SQLite file."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///.kogi/kogi.db"


class LedgerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOGI_", env_file=".env", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    """SQLAlchemy URL: sqlite:///path (embedded) or postgresql+psycopg://user@host/db."""
    database_pool_size: int = 10
    sqlite_busy_timeout_s: float = 30.0
    default_ledger: str = "main"
    backdating_window_days: int = Field(default=400, ge=0, le=36_500)
    """KOGI_BACKDATING_WINDOW_DAYS: how far before a ledger's creation an entry's `effective_at` may
    lie (ledger.policy.EffectiveTimePolicy; the chain indexer is not bound by it)."""
