"""The audit log (issue 11 §4): every privileged action appends a record in the transaction of the action
itself; records are append-only (the database refuses UPDATE and DELETE: revision s0003's triggers)
and hash-chained with the journal's chain code (ledger/chain.py).

Canonical form (version 1), for outside auditors:

1. body = the JSON object {"v": 1, "tenant", "actor", "action", "target", "before", "after",
   "request_id", "ip"} serialised as the journal's metadata is (`ledger.chain.canonical_metadata`:
   keys sorted, no whitespace, UTF-8, no floats); `before`/`after` are JSON objects or null.
2. body_digest = SHA-256(body).
3. hash_n = `ledger.chain.link_hash`(hash_{n-1}, sequence_n, recorded_at_us_n, record_id_n, body_digest_n),
   hash_0 = 32 zero bytes, sequences 1, 2, 3, … without gaps.

The head (audit_head: last sequence and hash) is updated in the same transaction; its UPDATE is
what serialises two appenders on PostgreSQL (SQLite writers are serialised already), and comparing
it with the last record detects records cut off the end.

Actions today: `api_key.created`, `api_key.revoked`.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from ledger.chain import GENESIS_HASH, canonical_metadata, link_hash
from ledger.database import Database
from ledger.errors import LedgerError
from ledger.schema import table_of
from services.auth import DEFAULT_TENANT
from services.auth_schema import AuditHeadRow, AuditRecordRow

AUDIT_LOG = table_of(AuditRecordRow)
AUDIT_HEAD = table_of(AuditHeadRow)
CHAIN = "audit"
CANONICAL_VERSION = 1
MAX_AUDIT_PAGE = 500
VERIFY_BATCH = 1000
MAX_REQUEST_ID_CHARS = 64


@dataclass(frozen=True)
class AuditContext:
    """Who acts, from where: given by the HTTP layer to every privileged use case."""

    actor: str
    request_id: str | None = None
    ip: str | None = None
    tenant: str = DEFAULT_TENANT


@dataclass(frozen=True)
class AuditRecord:
    sequence: int
    record_id: str
    recorded_at: datetime
    tenant: str
    actor: str
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None
    ip: str | None
    hash: str


@dataclass(frozen=True)
class AuditPage:
    items: tuple[AuditRecord, ...]
    next_after: int | None


@dataclass(frozen=True)
class AuditVerifyReport:
    ok: bool
    records_checked: int
    first_bad_sequence: int | None = None
    first_bad_record_id: str | None = None
    reason: str | None = None


def _canonical(value: dict[str, Any] | None) -> str | None:
    return None if value is None else canonical_metadata(value)


def body_digest(
    *,
    tenant: str,
    actor: str,
    action: str,
    target: str,
    before_json: str | None,
    after_json: str | None,
    request_id: str | None,
    ip: str | None,
) -> str:
    body = {
        "v": CANONICAL_VERSION,
        "tenant": tenant,
        "actor": actor,
        "action": action,
        "target": target,
        "before": None if before_json is None else json.loads(before_json),
        "after": None if after_json is None else json.loads(after_json),
        "request_id": request_id,
        "ip": ip,
    }
    return hashlib.sha256(canonical_metadata(body).encode("utf-8")).hexdigest()


def append(
    conn: Connection,
    context: AuditContext,
    action: str,
    target: str,
    *,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    recorded_at_us: int,
) -> int:
    """Append one record inside the caller's write transaction; returns its sequence."""
    conn.execute(update(AUDIT_HEAD).where(AUDIT_HEAD.c.chain == CHAIN).values(sequence=AUDIT_HEAD.c.sequence + 1))
    head = conn.execute(select(AUDIT_HEAD.c.sequence, AUDIT_HEAD.c.hash).where(AUDIT_HEAD.c.chain == CHAIN)).one()
    sequence = int(head.sequence)
    record_id = secrets.token_hex(16)
    row: dict[str, Any] = {
        "tenant": context.tenant,
        "actor": context.actor[:100],
        "action": action,
        "target": target[:200],
        "before_json": _canonical(before),
        "after_json": _canonical(after),
        "request_id": context.request_id,
        "ip": context.ip,
    }
    digest = body_digest(**row)
    chained = link_hash(head.hash, sequence, recorded_at_us, record_id, digest)
    conn.execute(
        insert(AUDIT_LOG).values(
            sequence=sequence,
            record_id=record_id,
            recorded_at_us=recorded_at_us,
            body_digest=digest,
            hash=chained,
            **row,
        )
    )
    conn.execute(update(AUDIT_HEAD).where(AUDIT_HEAD.c.chain == CHAIN).values(hash=chained))
    return sequence


def _record(row: Any) -> AuditRecord:
    return AuditRecord(
        sequence=int(row.sequence),
        record_id=row.record_id,
        recorded_at=datetime.fromtimestamp(row.recorded_at_us / 1_000_000, tz=UTC),
        tenant=row.tenant,
        actor=row.actor,
        action=row.action,
        target=row.target,
        before=None if row.before_json is None else json.loads(row.before_json),
        after=None if row.after_json is None else json.loads(row.after_json),
        request_id=row.request_id,
        ip=row.ip,
        hash=row.hash,
    )


class AuditLog:
    def __init__(self, database: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.database = database
        self.clock = clock

    def now_us(self) -> int:
        return int(self.clock() * 1_000_000)

    def list_records(
        self,
        *,
        action: str | None = None,
        actor: str | None = None,
        after_sequence: int = 0,
        limit: int = MAX_AUDIT_PAGE,
    ) -> AuditPage:
        assert 0 < limit <= MAX_AUDIT_PAGE
        query = select(AUDIT_LOG).where(AUDIT_LOG.c.sequence > after_sequence)
        if action is not None:
            query = query.where(AUDIT_LOG.c.action == action)
        if actor is not None:
            query = query.where(AUDIT_LOG.c.actor == actor)
        with self.database.read() as conn:
            rows = conn.execute(query.order_by(AUDIT_LOG.c.sequence).limit(limit + 1)).all()
        page = tuple(_record(row) for row in rows[:limit])
        return AuditPage(page, page[-1].sequence if len(rows) > limit else None)

    def verify(self) -> AuditVerifyReport:
        """Walk the chain in sequence order; the first record whose body, link or place is wrong is named."""
        prev_hash, expected, checked = GENESIS_HASH, 1, 0
        with self.database.read() as conn:
            while True:
                rows = conn.execute(
                    select(AUDIT_LOG)
                    .where(AUDIT_LOG.c.sequence >= expected)
                    .order_by(AUDIT_LOG.c.sequence)
                    .limit(VERIFY_BATCH)
                ).all()
                for row in rows:
                    reason = _check(row, expected, prev_hash)
                    if reason is not None:
                        return AuditVerifyReport(False, checked, int(row.sequence), row.record_id, reason)
                    prev_hash, expected, checked = row.hash, expected + 1, checked + 1
                if len(rows) < VERIFY_BATCH:
                    break
            head = conn.execute(
                select(AUDIT_HEAD.c.sequence, AUDIT_HEAD.c.hash).where(AUDIT_HEAD.c.chain == CHAIN)
            ).one()
        if int(head.sequence) != checked or head.hash != prev_hash:
            return AuditVerifyReport(
                False,
                checked,
                checked + 1,
                None,
                f"the head names record {head.sequence} but the log ends at {checked}: records were removed",
            )
        return AuditVerifyReport(True, checked)


def _check(row: Any, expected: int, prev_hash: str) -> str | None:
    if int(row.sequence) != expected:
        return f"sequence gap: record {expected} is missing"
    try:
        digest = body_digest(
            tenant=row.tenant,
            actor=row.actor,
            action=row.action,
            target=row.target,
            before_json=row.before_json,
            after_json=row.after_json,
            request_id=row.request_id,
            ip=row.ip,
        )
    except (ValueError, LedgerError):
        return "its before/after is not canonical JSON"
    if digest != row.body_digest:
        return "its content was altered (body digest mismatch)"
    if link_hash(prev_hash, int(row.sequence), int(row.recorded_at_us), row.record_id, digest) != row.hash:
        return "its hash does not chain from the previous record"
    return None
