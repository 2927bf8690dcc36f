"""Ledger settings (pydantic-settings, KOGI_ env vars). Embedded default: a SQLite file."""
from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///.kogi/kogi.db"


class LedgerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOGI_", env_file=".env", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    """SQLAlchemy URL: sqlite:///path (embedded) or postgresql+psycopg://user@host/db."""
    database_pool_size: int = 10
    sqlite_busy_timeout_s: float = 30.0
    default_ledger: str = "main"
