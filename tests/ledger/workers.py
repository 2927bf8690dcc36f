"""Process entry points for the concurrency and crash tests (importable under spawn)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

from ledger import Database, EntryRequest, LedgerStore, transfer_legs

HOT_ACCOUNTS = [f"holder:hot{i}" for i in range(3)]
COLD_ACCOUNTS = [f"holder:cold{i}" for i in range(40)]


def random_transfer(rng: random.Random, key: str) -> EntryRequest:
    """World-funded transfers (external:bank is unconstrained) touching hot accounts half the time."""
    target = rng.choice(HOT_ACCOUNTS) if rng.random() < 0.5 else rng.choice(COLD_ACCOUNTS)
    source = "external:bank" if rng.random() < 0.5 else rng.choice(HOT_ACCOUNTS)
    legs = transfer_legs(source, target, "USD", rng.randint(1, 1_000))
    if source != "external:bank":
        # fund the source in the same entry so no_overdraft holders never go below zero
        legs = (*legs, *transfer_legs("external:bank", source, "USD", legs[0].amount_units))
    return EntryRequest(key, "transfer", legs)


def post_random_batches(url: str, worker: int, batches: int, batch_size: int) -> int:
    rng = random.Random(worker)
    database = Database(url, pool_size=2)
    store = LedgerStore(database, account_code_rules=())  # free-form holder codes, as the `store` fixture
    posted = 0
    for batch in range(batches):
        requests = [random_transfer(rng, f"w{worker}-b{batch}-{i}") for i in range(batch_size)]
        if batch_size == 1:
            store.post("main", requests[0])
        else:
            store.post_many("main", requests)
        posted += len(requests)
    database.dispose()
    return posted


def crash_batch_main(url: str, size: int, started_flag: str) -> None:
    """Post one large batch; the test kills this process with SIGKILL while it runs."""
    database = Database(url)
    store = LedgerStore(database, account_code_rules=())  # free-form holder codes, as the `store` fixture
    rng = random.Random(99)
    requests = [random_transfer(rng, f"crash-{i}") for i in range(size)]
    original_write = store.posting.write

    def write_and_signal(conn, *args, **kwargs):  # type: ignore[no-untyped-def]
        # The database transaction is open from here until commit: signal the test.
        Path(started_flag).write_text("in-transaction")
        return original_write(conn, *args, **kwargs)

    store.posting.write = write_and_signal  # type: ignore[method-assign]
    store.post_many("main", requests)
    Path(started_flag).write_text("finished")


if __name__ == "__main__":
    crash_batch_main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
