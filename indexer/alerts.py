"""The alert outbox (`indexer_alerts`): events that need a human, kept until acknowledged.

Why an outbox and not only a log line: a CRITICAL log scrolls away and an exit code is seen only by
whoever supervises the process. A row in the ledger's database is read by `/health` (status
"degraded") and `kogi indexer alerts`, survives restarts, and is cleared only by a person
(`kogi indexer alerts --ack ID --by NAME`). Anything that forwards alerts (a webhook, a pager) can
poll `open_alerts` later without the indexer knowing about it.

Writers call `record_alert` right before stopping (e.g. indexer.reorg on a reorg deeper than
the confirmation window, `reorg_too_deep`, critical) or before backing off (`chain_flapping`, warning:
blocks keep coming back after their reversal; the follower waits for the chain to settle). A follower
restarted in a loop hits the same reorg every time: an open alert with the same chain, kind and
identifying details (`IDENTITY_KEYS`: all details unless the kind lists some, e.g. not the growing
chain head) is reused instead of writing one row per attempt.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Connection, Row

from indexer.schema import AlertRow, table_of
from ledger.database import Database

alerts_t = table_of(AlertRow)

SEVERITIES = ("critical", "warning", "info")
IDENTITY_KEYS: dict[str, tuple[str, ...]] = {
    "reorg_too_deep": ("last_block", "ancestor", "confirmations"),
    "chain_flapping": (),
}
"""Per kind, the detail keys that identify one event when other details move between attempts: a
follower restarted in a loop on the same too-deep reorg sees a growing `head` every time; a chain
flapping between forks is one event per chain while its alert is open, whichever block flipped."""
MAX_BY_LENGTH = 128
"""`acknowledged_by` column width."""


class AlertError(RuntimeError):
    """An alert cannot be acknowledged (base class of the two cases below)."""


class AlertNotFound(AlertError):
    """No alert has this id."""


class AlertAlreadyAcknowledged(AlertError):
    """The alert was acknowledged before (by whom and when is in the message)."""


@dataclass(frozen=True)
class Alert:
    id: int
    chain_id: int
    kind: str
    severity: str
    message: str
    details: dict[str, Any]
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None

    @property
    def open(self) -> bool:
        return self.acknowledged_at is None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types (ISO-8601 times) for `--json` output and the API."""
        return {
            "id": self.id,
            "chain_id": self.chain_id,
            "kind": self.kind,
            "severity": self.severity,
            "message": self.message,
            "details": self.details,
            "created_at": self.created_at.isoformat(),
            "acknowledged_at": None if self.acknowledged_at is None else self.acknowledged_at.isoformat(),
            "acknowledged_by": self.acknowledged_by,
        }


def canonical_details(details: dict[str, Any]) -> str:
    """Sorted keys, no spaces: equal dicts give equal text, which is what deduplication compares."""
    return json.dumps(details, sort_keys=True, separators=(",", ":"), default=str)


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands timezone-aware columns back naive; they were written in UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _alert(row: Row[Any]) -> Alert:
    created = _utc(row.created_at)
    assert created is not None
    return Alert(
        int(row.id),
        int(row.chain_id),
        row.kind,
        row.severity,
        row.message,
        json.loads(row.details),
        created,
        _utc(row.acknowledged_at),
        row.acknowledged_by,
    )


def _serialize(conn: Connection, database: Database, chain_id: int, kind: str) -> None:
    """PostgreSQL: one writer per (chain, kind) until commit, so two followers racing on the same
    reorg cannot both miss the other's open alert. SQLite writers are serial already."""
    if database.dialect != "postgresql":
        return
    key = int.from_bytes(hashlib.sha256(f"kogi-alert:{chain_id}:{kind}".encode()).digest()[:8], "big", signed=True)
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def record_alert(
    database: Database,
    chain_id: int,
    kind: str,
    message: str,
    details: dict[str, Any],
    severity: str = "critical",
    *,
    dedupe_on: Sequence[str] | None = None,
) -> int:
    """Write an alert in its own transaction and return its id; an open alert of the same chain,
    kind and details is returned instead of a new row (a follower retrying the same failure).

    `dedupe_on` names the detail keys that identify the event when others vary between attempts
    (default: `IDENTITY_KEYS[kind]`, else all details)."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    if dedupe_on is None:
        dedupe_on = IDENTITY_KEYS.get(kind)
    body = canonical_details(details)
    keys = sorted(set(dedupe_on)) if dedupe_on is not None else []
    identity = canonical_details({key: details.get(key) for key in keys})

    def same_event(stored_details: str) -> bool:
        if dedupe_on is None:
            return stored_details == body
        stored = json.loads(stored_details)
        return all(key in stored for key in keys) and canonical_details({key: stored[key] for key in keys}) == identity

    def work(conn: Connection) -> int:
        _serialize(conn, database, chain_id, kind)
        open_rows = conn.execute(
            select(alerts_t.c.id, alerts_t.c.details)
            .where(
                alerts_t.c.chain_id == chain_id,
                alerts_t.c.kind == kind,
                alerts_t.c.acknowledged_at.is_(None),
            )
            .order_by(alerts_t.c.id)
        ).all()  # open alerts of one chain and kind: a handful at most
        for row in open_rows:
            if same_event(row.details):
                return int(row.id)
        inserted = conn.execute(
            alerts_t.insert()
            .values(
                chain_id=chain_id,
                kind=kind,
                severity=severity,
                message=message,
                details=body,
                created_at=datetime.now(UTC),
                acknowledged_at=None,
                acknowledged_by=None,
            )
            .returning(alerts_t.c.id)
        )
        return int(inserted.scalar_one())

    return database.run_write(work)


def list_alerts(database: Database, *, chain_id: int | None = None, include_acknowledged: bool = False) -> list[Alert]:
    """Alerts oldest first; only open ones unless `include_acknowledged`."""
    query = select(alerts_t).order_by(alerts_t.c.id)
    if chain_id is not None:
        query = query.where(alerts_t.c.chain_id == chain_id)
    if not include_acknowledged:
        query = query.where(alerts_t.c.acknowledged_at.is_(None))
    with database.read() as conn:
        return [_alert(row) for row in conn.execute(query)]


def open_alerts(database: Database, chain_id: int | None = None) -> list[Alert]:
    """Unacknowledged alerts, oldest first (all chains unless `chain_id`)."""
    return list_alerts(database, chain_id=chain_id)


def acknowledge(database: Database, alert_id: int, by: str) -> Alert:
    """Mark an open alert as handled by `by`; AlertNotFound / AlertAlreadyAcknowledged otherwise."""
    by = by.strip()
    if not by:
        raise ValueError("say who acknowledges the alert (--by NAME)")
    if len(by) > MAX_BY_LENGTH:
        raise ValueError(f"--by is limited to {MAX_BY_LENGTH} characters")

    def work(conn: Connection) -> Alert:
        row = conn.execute(select(alerts_t).where(alerts_t.c.id == alert_id).with_for_update()).first()
        if row is None:
            raise AlertNotFound(f"no alert with id {alert_id}")
        if row.acknowledged_at is not None:
            found = _alert(row)
            assert found.acknowledged_at is not None
            raise AlertAlreadyAcknowledged(
                f"alert {alert_id} was already acknowledged by {found.acknowledged_by} "
                f"at {found.acknowledged_at.isoformat(timespec='seconds')}"
            )
        conn.execute(
            alerts_t.update()
            .where(alerts_t.c.id == alert_id)
            .values(acknowledged_at=datetime.now(UTC), acknowledged_by=by)
        )
        updated = conn.execute(select(alerts_t).where(alerts_t.c.id == alert_id)).one()
        return _alert(updated)

    return database.run_write(work)
