"""API keys of other platform services (issue 11 §2): created by a platform admin, shown once, stored
only as a SHA-256 digest, with scopes (services/access.API_KEY_SCOPES), an optional expiry, revocable,
last use recorded.

- `create`: a key `kk_<43 url-safe chars>` (256 random bits: a plain SHA-256 is enough, no pepper
  needed to resist guessing), returned once; its row keeps the digest, never the key.
- `authenticate`: a presented key -> `ApiKeyInfo`, or an `ApiKeyError` (`unauthorized` for an unknown
  key, `api-key-revoked`, `api-key-expired`). The last use is written at most once a minute per key
  (a conditional UPDATE), so a busy service costs one read per request, not one write.
- `list_keys`, `revoke` (revoking twice is not an error: the first revocation time stays).

Key ids are 32 hex digits that start with the creation time in microseconds, so the list is in creation order.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, or_, select, update

from ledger.database import Database
from ledger.schema import table_of
from services import audit
from services.access import API_KEY_SCOPES
from services.audit import AuditContext
from services.auth import DEFAULT_TENANT, AuthError, token_sha256
from services.auth_schema import ApiKeyRow

API_KEY_PREFIX = "kk_"
API_KEY_BYTES = 32
MAX_API_KEY_CHARS = 128
MAX_NAME_CHARS = 100
LAST_USED_RESOLUTION_MS = 60_000
"""last_used_at is written at most this often per key."""
MAX_KEYS_PER_PAGE = 500

API_KEYS = table_of(ApiKeyRow)

API_KEY_PROBLEMS: dict[str, str] = {
    "api-key-revoked": "the API key was revoked (DELETE /v1/api-keys/{id}): ask for a new one",
    "api-key-expired": "the API key's expires_at has passed: ask for a new one",
}
"""The 401 problem codes of a known key that is no longer valid (an unknown key is `unauthorized`)."""


class ApiKeyError(AuthError):
    """A refused API key or API-key operation, with a stable problem code."""

    def __init__(self, code: str, detail: str, *, status: int = 401) -> None:
        super().__init__(code, detail, status=status)
        self.title = _TITLES.get(code, "API key refused")


_TITLES = {
    "api-key-not-found": "API key not found",
    "expires-at-in-past": "Expiry is not in the future",
    "unauthorized": "Missing or invalid API key",
}


@dataclass(frozen=True)
class ApiKeyInfo:
    key_id: str
    name: str
    scopes: tuple[str, ...]
    tenant: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class CreatedApiKey:
    info: ApiKeyInfo
    key: str
    """The secret itself: shown once, never stored."""


@dataclass(frozen=True)
class ApiKeyPage:
    items: tuple[ApiKeyInfo, ...]
    next_after: str | None
    """The key id to continue after, or None on the last page."""


def looks_like_api_key(token: str) -> bool:
    return token.startswith(API_KEY_PREFIX)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _at(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


class ApiKeyService:
    def __init__(self, database: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.database = database
        self.clock = clock

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def create(
        self, name: str, scopes: Iterable[str], expires_at: datetime | None, context: AuditContext
    ) -> CreatedApiKey:
        """A new key; its audit record (`api_key.created`, no secret in it) commits with it."""
        scope_set = sorted(set(scopes))
        assert scope_set and all(scope in API_KEY_SCOPES for scope in scope_set), scope_set
        assert 0 < len(name) <= MAX_NAME_CHARS
        now_ms = self._now_ms()
        expires_at_ms = None if expires_at is None else _ms(expires_at)
        if expires_at_ms is not None and expires_at_ms <= now_ms:
            raise ApiKeyError("expires-at-in-past", "expires_at must be in the future", status=422)
        key_id = f"{int(self.clock() * 1_000_000):014x}{secrets.token_hex(9)}"
        key = API_KEY_PREFIX + secrets.token_urlsafe(API_KEY_BYTES)
        row = {
            "key_id": key_id,
            "key_sha256": token_sha256(key),
            "name": name,
            "scopes": " ".join(scope_set),
            "tenant": DEFAULT_TENANT,
            "created_by": context.actor[:64],
            "created_at_ms": now_ms,
            "expires_at_ms": expires_at_ms,
        }
        info = _info({**row, "revoked_at_ms": None, "last_used_at_ms": None})
        with self.database.write() as conn:
            conn.execute(insert(API_KEYS).values(**row))
            audit.append(
                conn,
                context,
                "api_key.created",
                f"api_key:{key_id}",
                before=None,
                after=_audited(info),
                recorded_at_us=now_ms * 1000,
            )
        return CreatedApiKey(info, key)

    def list_keys(self, *, after_key_id: str | None = None, limit: int = MAX_KEYS_PER_PAGE) -> ApiKeyPage:
        assert 0 < limit <= MAX_KEYS_PER_PAGE
        query = select(API_KEYS).order_by(API_KEYS.c.key_id).limit(limit + 1)
        if after_key_id is not None:
            query = query.where(API_KEYS.c.key_id > after_key_id)
        with self.database.read() as conn:
            rows = [row._asdict() for row in conn.execute(query)]
        page = tuple(_info(row) for row in rows[:limit])
        return ApiKeyPage(page, page[-1].key_id if len(rows) > limit else None)

    def revoke(self, key_id: str, context: AuditContext) -> ApiKeyInfo:
        """Revoke a key (`api_key.revoked` audited with it); revoking a revoked key changes and records nothing."""
        now_ms = self._now_ms()
        with self.database.write() as conn:
            revoked = conn.execute(
                update(API_KEYS)
                .where(API_KEYS.c.key_id == key_id, API_KEYS.c.revoked_at_ms.is_(None))
                .values(revoked_at_ms=now_ms)
            ).rowcount
            row = conn.execute(select(API_KEYS).where(API_KEYS.c.key_id == key_id)).first()
            if row is not None and revoked == 1:
                after = _info(row._asdict())
                audit.append(
                    conn,
                    context,
                    "api_key.revoked",
                    f"api_key:{key_id}",
                    before={**_audited(after), "revoked_at": None},
                    after=_audited(after),
                    recorded_at_us=now_ms * 1000,
                )
        if row is None:
            raise ApiKeyError("api-key-not-found", f"no API key has the id {key_id}", status=404)
        return _info(row._asdict())

    def authenticate(self, key: str) -> ApiKeyInfo:
        """The key's record when it is known, not revoked and not expired; else an ApiKeyError."""
        if not looks_like_api_key(key) or len(key) > MAX_API_KEY_CHARS:
            raise ApiKeyError("unauthorized", "the API key is not valid")
        with self.database.read() as conn:
            row = conn.execute(select(API_KEYS).where(API_KEYS.c.key_sha256 == token_sha256(key))).first()
        if row is None:
            raise ApiKeyError("unauthorized", "the API key is not valid")
        now_ms = self._now_ms()
        if row.revoked_at_ms is not None:
            raise ApiKeyError("api-key-revoked", API_KEY_PROBLEMS["api-key-revoked"])
        if row.expires_at_ms is not None and row.expires_at_ms <= now_ms:
            raise ApiKeyError("api-key-expired", API_KEY_PROBLEMS["api-key-expired"])
        values = row._asdict()
        if row.last_used_at_ms is None or row.last_used_at_ms <= now_ms - LAST_USED_RESOLUTION_MS:
            with self.database.write() as conn:
                conn.execute(
                    update(API_KEYS)
                    .where(API_KEYS.c.key_id == row.key_id)
                    .where(
                        or_(
                            API_KEYS.c.last_used_at_ms.is_(None),
                            API_KEYS.c.last_used_at_ms <= now_ms - LAST_USED_RESOLUTION_MS,
                        )
                    )
                    .values(last_used_at_ms=now_ms)
                )
            values["last_used_at_ms"] = now_ms
        return _info(values)


def _audited(info: ApiKeyInfo) -> dict[str, object]:
    """What the audit log keeps of a key: never the key nor its digest."""

    def text(moment: datetime | None) -> str | None:
        return None if moment is None else moment.isoformat()

    return {
        "id": info.key_id,
        "name": info.name,
        "scopes": list(info.scopes),
        "expires_at": text(info.expires_at),
        "revoked_at": text(info.revoked_at),
    }


def _info(row: dict[str, object]) -> ApiKeyInfo:
    created_at = _at(int(row["created_at_ms"]))  # type: ignore[call-overload]
    assert created_at is not None
    return ApiKeyInfo(
        key_id=str(row["key_id"]),
        name=str(row["name"]),
        scopes=tuple(str(row["scopes"]).split()),
        tenant=str(row["tenant"]),
        created_by=str(row["created_by"]),
        created_at=created_at,
        expires_at=_at(row["expires_at_ms"]),  # type: ignore[arg-type]
        revoked_at=_at(row["revoked_at_ms"]),  # type: ignore[arg-type]
        last_used_at=_at(row["last_used_at_ms"]),  # type: ignore[arg-type]
    )
