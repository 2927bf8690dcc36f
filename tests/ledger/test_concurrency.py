"""Many processes, shared hot accounts: no lost update, no deadlock failure, chain intact."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from ledger import Database, LedgerStore
from ledger.chart import platform_store
from tests.ledger.workers import COLD_ACCOUNTS, HOT_ACCOUNTS, crash_batch_main, post_random_batches, random_transfer

WORKERS = 8


def prepare_ledger(store: LedgerStore) -> None:
    store.open_accounts("main", HOT_ACCOUNTS + COLD_ACCOUNTS, "liability", no_overdraft=True, assets=["USD"])
    store.open_accounts("main", ["external:bank"], "asset", assets=["USD"])


def sum_of_postings_equals_balances(store: LedgerStore) -> None:
    report = store.verify("main")
    assert report.ok, report
    with store.db.read() as conn:
        entries = conn.execute(text("SELECT count(*) FROM journal_entries")).scalar_one()
    assert report.entries_checked == entries


@pytest.mark.parametrize("batch_size", [1, 25])
def test_eight_processes_on_hot_accounts_lose_nothing(store: LedgerStore, batch_size: int) -> None:
    prepare_ledger(store)
    batches = 40 if batch_size == 1 else 8
    context = multiprocessing.get_context("spawn")
    with context.Pool(WORKERS) as pool:
        posted = pool.starmap(
            post_random_batches, [(store.db.url, worker, batches, batch_size) for worker in range(WORKERS)]
        )
    assert sum(posted) == WORKERS * batches * batch_size
    sequence, _ = store.head("main")
    assert sequence == sum(posted)
    sum_of_postings_equals_balances(store)
    trial = store.trial_balance("main")
    assert trial.balanced
    # No lost update: replay every worker's deterministic workload in memory and compare.
    expected: dict[str, int] = {}
    for worker in range(WORKERS):
        rng = random.Random(worker)
        for batch in range(batches):
            for i in range(batch_size):
                for leg in random_transfer(rng, f"w{worker}-b{batch}-{i}").legs:
                    delta = leg.amount_units if leg.side.value == "C" else -leg.amount_units
                    expected[leg.account] = expected.get(leg.account, 0) + delta
    for code, net_credit in expected.items():
        balance = store.get_balance("main", code, "USD")
        assert balance.credits_posted_units - balance.debits_posted_units == net_credit, code


def test_kill_9_in_the_middle_of_a_large_batch_leaves_nothing_partial(store: LedgerStore, tmp_path: Path) -> None:
    prepare_ledger(store)
    size = 10_000
    flag = tmp_path / "flag"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.ledger.workers", store.db.url, str(size), str(flag)],
        cwd=Path(__file__).resolve().parents[2],
    )
    deadline = time.monotonic() + 120
    while not flag.exists() or flag.read_text() != "in-transaction":
        assert process.poll() is None, "worker died before starting the batch"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.02)  # inside the open write transaction of 10,000 entries
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert flag.read_text() == "in-transaction", "the batch committed before the kill; make it larger"

    reopened = platform_store(Database(store.db.url))
    assert reopened.head("main")[0] == 0
    with reopened.db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM postings")).scalar_one() == 0
    assert reopened.verify("main").ok

    crash_batch_main(store.db.url, size, str(flag))  # the retry, same idempotency keys
    assert flag.read_text() == "finished"
    assert reopened.head("main")[0] == size
    crash_batch_main(store.db.url, size, str(flag))  # and again: exactly once
    assert reopened.head("main")[0] == size
    sum_of_postings_equals_balances(reopened)
    reopened.db.dispose()
