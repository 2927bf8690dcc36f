"""HTTP API settings: the ledger's settings plus the admin API key and start-up migrations.

Environment (prefix `KOGI_`, also read from `.env`):
- `KOGI_ADMIN_API_KEY`: the bearer token every `/v1` route requires. When unset in
  embedded mode (a SQLite database), a random key is generated on first start, written
  to `KOGI_ADMIN_API_KEY_FILE` (default `.kogi/admin_api_key`, mode 0600) and logged
  once; later starts read it back. There is never a fixed, well-known default. With
  PostgreSQL (distributed mode) an unset key is a start-up error.
- `KOGI_MAX_BODY_BYTES` (default 1 MiB) / `KOGI_PUBLIC_MAX_BODY_BYTES` (default 16 KiB): request body
  limits on authenticated / public routes (api/guard.py); larger bodies get 413 before being read.
- `KOGI_AUTO_MIGRATE`: apply Alembic migrations on start (default true).
- `KOGI_EMBEDDED_CHAIN`: start the chain stack with the API (default true; see api/embedded_chain.py):
  anvil on `KOGI_CHAIN_PORT` (default 18545, never 8545) persisted in `KOGI_CHAIN_STATE_FILE`,
  the core contracts (manifest in `KOGI_DEPLOYMENTS_DIR`) and the indexer in-process. With
  `KOGI_RPC_URL` set, that chain is followed instead and no anvil is started.
- Sign-in with a wallet (services/auth.py): `KOGI_SIWE_DOMAIN` (default `127.0.0.1:8000`) is the
  EIP-4361 domain messages must name (their URI must be on it too); `KOGI_SIWE_CHAIN_IDS` (default
  `31337`, comma-separated) the chain ids accepted, plus the embedded chain's; `KOGI_JWT_KEYS`
  (`kid1:secret1,kid2:secret2`, secrets ≥ 32 characters) the access-token keys: the first signs, all
  verify. When unset in embedded mode a key is generated once into `KOGI_JWT_KEY_FILE` (default
  `jwt_keys` beside the admin key file: `.kogi/jwt_keys`; mode 0600, never logged); in distributed
  mode sign-in then answers 503 `sign-in-unavailable` (every API process must share the keys).
  `KOGI_ACCESS_TOKEN_TTL_S` (≤ 900), `KOGI_REFRESH_TOKEN_TTL_S` and `KOGI_SIWE_NONCE_TTL_S` (≤ 600)
  bound the tokens' and nonces' lives.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from ledger.config import LedgerSettings

log = logging.getLogger("kogi.api")

MIN_ADMIN_API_KEY_LENGTH = 16
GENERATED_KEY_BYTES = 32
DEFAULT_ADMIN_API_KEY_FILE = Path(".kogi/admin_api_key")
DEFAULT_CHAIN_PORT = 18545
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_PUBLIC_MAX_BODY_BYTES = 16 * 1024
JWT_KEY_FILE_NAME = "jwt_keys"
DEV_CHAIN_ID = 31337


class ApiSettings(LedgerSettings):
    admin_api_key: SecretStr | None = None
    """Bearer token for /v1 routes (KOGI_ADMIN_API_KEY). None: embedded default, see module docs."""
    admin_api_key_file: Path = DEFAULT_ADMIN_API_KEY_FILE
    auto_migrate: bool = True
    embedded_chain: bool = True
    """Start anvil (or follow KOGI_RPC_URL), deploy the core and run the indexer inside the API process."""
    chain_port: int = DEFAULT_CHAIN_PORT
    """Port of the embedded anvil (never 8545, the port other tools assume)."""
    rpc_url: str | None = None
    """JSON-RPC URL of an external chain: no anvil is started, its manifest must exist."""
    chain_state_file: Path | None = Path(".kogi/anvil-state.json")
    """Where the embedded anvil keeps its chain across restarts (empty: a fresh chain every start)."""
    deployments_dir: Path = Path(".kogi/deployments")
    """Deployment manifests, one `<chain id>.json` per chain."""

    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=1024, le=64 * 1024 * 1024)
    """Largest request body on authenticated routes (KOGI_MAX_BODY_BYTES); larger ones get 413 unread."""
    public_max_body_bytes: int = Field(DEFAULT_PUBLIC_MAX_BODY_BYTES, ge=1024, le=1024 * 1024)
    """Largest request body on routes without a bearer token (sign-in, provider webhooks)."""

    siwe_domain: str = Field("127.0.0.1:8000", min_length=1, max_length=255, pattern=r"^[^\s/?#@]+$")
    """EIP-4361 domain (host[:port]) a sign-in message must name; its URI must be on the same host."""
    siwe_chain_ids: Annotated[list[int], NoDecode] = [DEV_CHAIN_ID]
    """Chain ids a sign-in may name (KOGI_SIWE_CHAIN_IDS=31337,8453); the embedded chain's is added."""
    siwe_nonce_ttl_s: int = Field(600, ge=30, le=600)
    jwt_keys: SecretStr | None = None
    """Access-token keys `kid:secret,...` (KOGI_JWT_KEYS): the first signs, every listed one verifies."""
    jwt_key_file: Path | None = None
    """Embedded mode's generated key (KOGI_JWT_KEY_FILE); unset: `jwt_keys` beside the admin key file."""
    access_token_ttl_s: int = Field(900, ge=30, le=900)
    refresh_token_ttl_s: int = Field(14 * 24 * 3600, ge=300, le=90 * 24 * 3600)

    @field_validator("siwe_chain_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(item) for item in value.replace(" ", "").split(",") if item]
        return value

    @field_validator("chain_state_file", "jwt_key_file", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("admin_api_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_ADMIN_API_KEY_LENGTH:
            raise ValueError(f"admin API key must be at least {MIN_ADMIN_API_KEY_LENGTH} characters")
        return value

    @property
    def embedded(self) -> bool:
        return self.database_url.startswith("sqlite")

    def resolve_admin_api_key(self) -> str:
        """The configured key, or (embedded mode only) the generated one from the key file."""
        if self.admin_api_key is not None:
            return self.admin_api_key.get_secret_value()
        if not self.embedded:
            raise RuntimeError("KOGI_ADMIN_API_KEY must be set when the database is not the embedded SQLite file")
        return load_or_generate_key(self.admin_api_key_file)

    def resolve_jwt_keys(self) -> str | None:
        """`kid:secret,...`: the configured keys, or (embedded mode only) the generated key file's;
        None in distributed mode without KOGI_JWT_KEYS (sign-in is then unavailable)."""
        if self.jwt_keys is not None:
            return self.jwt_keys.get_secret_value()
        if not self.embedded:
            log.warning("KOGI_JWT_KEYS is not set: sign-in with a wallet is unavailable (503)")
            return None
        return load_or_generate_jwt_keys(self.jwt_key_file or self.admin_api_key_file.with_name(JWT_KEY_FILE_NAME))


def load_or_generate_jwt_keys(path: Path) -> str:
    """Read the embedded access-token key, or create it (0600, exclusive create) on first start.
    The key is never logged, only where it is."""
    from services.auth import generate_jwt_key_line

    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(generate_jwt_key_line() + "\n")
    try:
        os.link(draft, path)  # appears whole or not at all; refused if another process made one first
        log.info("generated the access-token signing key in %s", path)
    except FileExistsError:  # another process won the race: use its key
        pass
    finally:
        draft.unlink()
    return path.read_text(encoding="utf-8").strip()


def load_or_generate_key(path: Path) -> str:
    """Read the embedded admin key, or create it (0600, exclusive create) on first start."""
    if path.exists():
        key = path.read_text(encoding="utf-8").strip()
        if len(key) < MIN_ADMIN_API_KEY_LENGTH:
            raise RuntimeError(f"{path} holds no valid admin API key; delete it to generate a new one")
        log.info("admin API key read from %s", path)
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(GENERATED_KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return load_or_generate_key(path)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    # The key itself never goes to a log (logs are shipped and kept); the file is the one place it lives.
    log.warning("generated the admin API key in %s (mode 0600); read it from there", path)
    return key
