"""The audit log (issue 11 §4) on SQLite and PostgreSQL: privileged actions append hash-chained records in
their own transaction, the database refuses to change or delete them, and verification (the service
and `kogi audit verify`) names the first record altered behind the triggers' back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from ledger.database import Database
from services import audit, migrate
from services.api_keys import ApiKeyService
from services.audit import AUDIT_LOG, AuditContext, AuditLog
from tests.services.conftest import FakeClock

REPO = Path(__file__).resolve().parents[2]
ADMIN = AuditContext(actor="platform_admin", request_id="req-1", ip="127.0.0.1")


def _three_actions(database: Database, clock: FakeClock) -> list[str]:
    keys = ApiKeyService(database, clock=clock)
    first = keys.create("reporting", ["ledger:read"], None, ADMIN).info.key_id
    clock.advance(1)
    second = keys.create("payments", ["ledger:write"], None, ADMIN).info.key_id
    clock.advance(1)
    keys.revoke(first, AuditContext(actor="api_key:ops", request_id=None, ip=None))
    keys.revoke(first, ADMIN)  # already revoked: nothing changes, nothing is recorded
    return [first, second]


def tamper(database: Database, sequence: int, **values: str) -> None:
    """Change a stored record the way a superuser could: with the append-only triggers bypassed."""
    assignments = ", ".join(f"{column} = :{column}" for column in values)
    with database.write() as conn:
        if database.dialect == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        if values:
            conn.execute(text(f"UPDATE audit_log SET {assignments} WHERE sequence = :s"), {**values, "s": sequence})
        else:
            conn.execute(text("DELETE FROM audit_log WHERE sequence = :s"), {"s": sequence})
        if database.dialect != "postgresql":
            for operation in ("UPDATE", "DELETE"):
                conn.execute(
                    text(
                        f"CREATE TRIGGER audit_log_no_{operation.lower()} BEFORE {operation} ON audit_log "
                        f"BEGIN SELECT RAISE(ABORT, 'kogi: the audit log is append-only'); END"
                    )
                )


def test_privileged_actions_are_recorded_and_the_chain_verifies(database: Database, clock: FakeClock) -> None:
    first, second = _three_actions(database, clock)
    log = AuditLog(database)
    records = log.list_records().items
    assert [(r.sequence, r.action, r.target) for r in records] == [
        (1, "api_key.created", f"api_key:{first}"),
        (2, "api_key.created", f"api_key:{second}"),
        (3, "api_key.revoked", f"api_key:{first}"),
    ]
    created, _, revoked = records
    assert created.actor == "platform_admin" and created.request_id == "req-1" and created.ip == "127.0.0.1"
    assert created.before is None and created.after == {
        "id": first,
        "name": "reporting",
        "scopes": ["ledger:read"],
        "expires_at": None,
        "revoked_at": None,
    }
    assert revoked.actor == "api_key:ops" and revoked.before["revoked_at"] is None and revoked.after["revoked_at"]
    assert all("kk_" not in str(record) for record in records)  # never the key
    assert log.verify().ok and log.verify().records_checked == 3
    assert [r.sequence for r in log.list_records(action="api_key.revoked").items] == [3]
    assert [r.sequence for r in log.list_records(actor="platform_admin", after_sequence=1).items] == [2]


def test_the_database_refuses_to_change_or_delete_a_record(database: Database, clock: FakeClock) -> None:
    _three_actions(database, clock)
    for statement in ("UPDATE audit_log SET actor = 'someone else' WHERE sequence = 1", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            with database.write() as conn:
                conn.execute(text(statement))
    assert AuditLog(database).verify().ok


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"actor": "0x0000000000000000000000000000000000000000"}, "content was altered"),
        ({"after_json": '{"id":"x"}'}, "content was altered"),
        ({"hash": "ab" * 32}, "does not chain"),
        ({}, "record 2 is missing"),
    ],
)
def test_verify_names_the_first_altered_record(
    database: Database, clock: FakeClock, change: dict[str, str], reason: str
) -> None:
    _three_actions(database, clock)
    tamper(database, 2, **change)
    report = AuditLog(database).verify()
    assert not report.ok and report.first_bad_sequence == (3 if not change else 2), report
    assert reason in str(report.reason)


def test_cutting_the_last_record_off_is_detected(database: Database, clock: FakeClock) -> None:
    _three_actions(database, clock)
    tamper(database, 3)
    report = AuditLog(database).verify()
    assert not report.ok and "removed" in str(report.reason)


def test_a_failed_audit_write_undoes_the_action(
    database: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same transaction: no key exists without its audit record."""

    def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("audit write failed")

    monkeypatch.setattr(audit, "append", broken)
    with pytest.raises(RuntimeError):
        ApiKeyService(database, clock=clock).create("orphan", ["ledger:read"], None, ADMIN)
    with database.read() as conn:
        from services.api_keys import API_KEYS

        assert conn.execute(select(API_KEYS)).first() is None
        assert conn.execute(select(AUDIT_LOG)).first() is None


def test_kogi_audit_verify_exits_non_zero_naming_the_altered_record(tmp_path: Path, clock: FakeClock) -> None:
    url = f"sqlite:///{tmp_path}/kogi.db"
    database = Database(url)
    try:
        migrate.upgrade(database.write_engine)
        _three_actions(database, clock)

        def kogi_audit_verify() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "api.cli", "audit", "verify"],
                capture_output=True,
                text=True,
                env={**os.environ, "KOGI_DATABASE_URL": url},
                cwd=REPO,
                timeout=120,
            )

        good = kogi_audit_verify()
        assert good.returncode == 0, good.stderr
        assert "3 records verified" in good.stdout
        tamper(database, 2, target="api_key:someone-else")
        bad = kogi_audit_verify()
        assert bad.returncode == 1
        lines = bad.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("kogi: error: audit log: record 2 ("), lines
        assert "content was altered" in lines[0]
    finally:
        database.dispose()
