"""The `kogi` CLI as a user runs it: a real subprocess, exit codes and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from ledger import Database, EntryRequest, transfer_legs
from ledger.chart import platform_store
from tests.ledger.test_store import tamper_posting_amount

KOGI = [sys.executable, "-m", "api.cli"]
HOLDER = "holder:31337:0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
"""The CLI's store has the platform chart: holder codes carry a real address."""


def kogi(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KOGI_DATABASE_URL": database_url}
    return subprocess.run(
        [*KOGI, *args], capture_output=True, text=True, env=env, timeout=120, cwd=Path(__file__).resolve().parents[2]
    )


def test_db_upgrade_then_verify_passes_and_names_a_tampered_entry(database_url: str) -> None:
    result = kogi("db", "upgrade", database_url=database_url)
    assert result.returncode == 0, result.stderr
    assert "revision 0001" in result.stdout
    assert kogi("db", "upgrade", database_url=database_url).returncode == 0  # idempotent

    database = Database(database_url)
    store = platform_store(database)
    store.create_ledger("main")
    store.create_asset("main", "USD", 2, "fiat")
    store.create_account("main", "external:bank", "asset")
    store.create_account("main", HOLDER, "liability")
    entries = [
        store.post("main", EntryRequest(f"k{i}", "deposit", transfer_legs("external:bank", HOLDER, "USD", 10)))
        for i in range(4)
    ]
    ok = kogi("ledger", "verify", database_url=database_url)
    assert ok.returncode == 0 and "4 entries verified" in ok.stdout

    tamper_posting_amount(store, entries[2].id, 11)
    database.dispose()
    bad = kogi("ledger", "verify", database_url=database_url)
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1 and entries[2].id in bad.stderr and "sequence 3" in bad.stderr


def test_cli_errors_are_one_readable_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    kogi("db", "upgrade", database_url=url)
    result = kogi("ledger", "verify", "--ledger", "nope", database_url=url)
    assert result.returncode == 1
    assert result.stderr.strip() == "kogi: error: ledger 'nope' does not exist"


def test_expire_holds_command_releases_overdue_holds(database_url: str) -> None:
    from datetime import UTC, datetime, timedelta

    assert kogi("db", "upgrade", database_url=database_url).returncode == 0
    database = Database(database_url)
    store = platform_store(database)
    store.create_ledger("main")
    store.create_asset("main", "USD", 2, "fiat")
    store.create_account("main", "external:bank", "asset")
    store.create_account("main", HOLDER, "liability", no_overdraft=True)
    store.post("main", EntryRequest("d", "deposit", transfer_legs("external:bank", HOLDER, "USD", 100)))
    expires_at = datetime.now(UTC) + timedelta(milliseconds=50)
    hold = store.create_hold(
        "main",
        idempotency_key="h",
        debit_account=HOLDER,
        credit_account="external:bank",
        asset="USD",
        amount_units=40,
        expires_at=expires_at,
    )
    while datetime.now(UTC) <= expires_at:
        time.sleep(0.01)
    database.dispose()
    result = kogi("ledger", "expire-holds", database_url=database_url)
    assert result.returncode == 0 and "expired 1 holds" in result.stdout
    database = Database(database_url)
    assert platform_store(database).get_hold("main", hold.id).status.value == "expired"
    assert platform_store(database).get_balance("main", HOLDER, "USD").available_units == 100
    database.dispose()
