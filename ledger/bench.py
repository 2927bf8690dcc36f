"""`kogi bench ledger`: Kogi vs pgledger on one PostgreSQL, same workload, same run.

Workload: N accounts, a hot set of H accounts receiving `hot_share` of all postings,
M transfers of random amounts split over C client processes. Contenders:
  (a) kogi-single   one journal entry per database transaction (LedgerStore.post)
  (b) kogi-batched  B entries per transaction (LedgerStore.post_many)
  (c) pgledger      pgledger_create_transfer(), one call per transaction (autocommit)
pgledger is a public PL/pgSQL ledger; its SQL is read from --pgledger PATH at run time
and installed into a separate database; none of it is part of this repository.

Transfers are generated lazily per client from a seed (nothing accumulates), so the
clients' memory stays flat however many transfers run; each client reports its peak
RSS and the parent reports the maximum.
"""

from __future__ import annotations

import multiprocessing
import random
import resource
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ASSET = "USD"
LEDGER = "bench"


@dataclass(frozen=True)
class Workload:
    accounts: int = 10_000
    hot_accounts: int = 10
    hot_share: float = 0.5
    transfers: int = 200_000
    clients: int = 4
    batch_size: int = 1_000
    seed: int = 7

    def client_transfers(self, client: int) -> Iterator[tuple[int, int, int]]:
        """(from index, to index, amount) for one client's share, generated lazily."""
        rng = random.Random(self.seed * 1_000_003 + client)
        count = self.transfers // self.clients + (1 if client < self.transfers % self.clients else 0)
        for _ in range(count):
            source = self._pick(rng)
            target = self._pick(rng)
            while target == source:
                target = self._pick(rng)
            yield source, target, rng.randint(1, 100_000)

    def _pick(self, rng: random.Random) -> int:
        if rng.random() < self.hot_share:
            return rng.randrange(self.hot_accounts)
        return rng.randrange(self.hot_accounts, self.accounts)


def account_code(index: int) -> str:
    return f"acct:{index:07d}"


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---------------------------------------------------------------- Kogi clients


def _kogi_client(url: str, workload: Workload, client: int, batch_size: int, run_tag: str) -> dict[str, Any]:
    from ledger import Database, EntryRequest, LedgerStore, transfer_legs
    from ledger.chart import DEFAULT_ACCOUNT_CODE_RULES

    database = Database(url, pool_size=2)
    store = LedgerStore(database, account_code_rules=DEFAULT_ACCOUNT_CODE_RULES)
    posted = 0
    batch: list[EntryRequest] = []
    for number, (source, target, amount) in enumerate(workload.client_transfers(client)):
        request = EntryRequest(
            f"{run_tag}-{client}-{number}",
            "transfer",
            transfer_legs(account_code(source), account_code(target), ASSET, amount),
        )
        if batch_size == 1:
            store.post(LEDGER, request)
            posted += 1
            continue
        batch.append(request)
        if len(batch) == batch_size:
            store.post_many(LEDGER, batch)
            posted += len(batch)
            batch = []
    if batch:
        store.post_many(LEDGER, batch)
        posted += len(batch)
    database.dispose()
    return {"posted": posted, "peak_rss_mib": _peak_rss_mib()}


def _setup_kogi(url: str, workload: Workload) -> None:
    from ledger import Database, LedgerStore
    from ledger.chart import DEFAULT_ACCOUNT_CODE_RULES
    from ledger.migrate import upgrade

    database = Database(url)
    upgrade(database.write_engine)
    store = LedgerStore(database, account_code_rules=DEFAULT_ACCOUNT_CODE_RULES)
    store.create_ledger(LEDGER)
    store.create_asset(LEDGER, ASSET, 2, "fiat")
    store.open_accounts(LEDGER, [account_code(i) for i in range(workload.accounts)], "liability", assets=[ASSET])
    database.dispose()


def _check_kogi(url: str, expected_entries: int) -> dict[str, Any]:
    """After a run: entry count, trial balance and Σ postings == balances (no lost update)."""
    from ledger import Database, LedgerStore
    from ledger.chart import DEFAULT_ACCOUNT_CODE_RULES

    database = Database(url)
    store = LedgerStore(database, account_code_rules=DEFAULT_ACCOUNT_CODE_RULES)
    sequence, _ = store.head(LEDGER)
    trial = store.trial_balance(LEDGER)
    report = store.verify(LEDGER)
    database.dispose()
    return {
        "entries": sequence,
        "expected_entries": expected_entries,
        "trial_balance_ok": trial.balanced,
        "verify_ok": report.ok,
    }


# ------------------------------------------------------------ pgledger clients


def _pgledger_client(dsn: str, workload: Workload, client: int, account_ids: list[str]) -> dict[str, Any]:
    import psycopg

    posted = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        for source, target, amount in workload.client_transfers(client):
            conn.execute(
                "SELECT id FROM pgledger_create_transfer(%s, %s, %s)",
                (account_ids[source], account_ids[target], amount),
            )
            posted += 1
    return {"posted": posted, "peak_rss_mib": _peak_rss_mib()}


def _setup_pgledger(dsn: str, pgledger_path: Path, workload: Workload) -> list[str]:
    import psycopg

    sql_files = [
        pgledger_path / "vendor" / "scoville-pgsql-ulid" / "ulid-to-uuid.sql",
        pgledger_path / "vendor" / "scoville-pgsql-ulid" / "uuid-to-ulid.sql",
        pgledger_path / "pgledger.sql",
    ]
    for path in sql_files:
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: --pgledger must point at a pgledger checkout")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for path in sql_files:
            conn.execute(path.read_text())
        ids = []
        for index in range(workload.accounts):
            row = conn.execute(
                "SELECT id FROM pgledger_create_account(%s, %s)", (account_code(index), ASSET)
            ).fetchone()
            assert row is not None
            ids.append(row[0])
    return ids


# ------------------------------------------------------------------- harness


def _run_clients(target: Any, args_per_client: list[tuple[Any, ...]]) -> tuple[float, list[dict[str, Any]]]:
    context = multiprocessing.get_context("spawn")
    with context.Pool(len(args_per_client)) as pool:
        started = time.perf_counter()
        results = pool.starmap(target, args_per_client)
        elapsed = time.perf_counter() - started
    return elapsed, results


def fresh_database(admin_url: str, name: str) -> tuple[str, str]:
    """Create database `name` on the server of `admin_url`; return (SQLAlchemy URL, libpq DSN).
    Public: the indexer benchmark (indexer.bench) sets up its databases the same way."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(admin_url)
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    target = url.set(database=name)
    return (
        target.set(drivername="postgresql+psycopg").render_as_string(hide_password=False),
        target.set(drivername="postgresql").render_as_string(hide_password=False),
    )


def run_ledger_bench(database_url: str, workload: Workload, pgledger_path: Path | None) -> dict[str, Any]:
    """Run every contender on the server of `database_url` and return the JSON report."""
    if not database_url.startswith("postgresql"):
        raise ValueError("the ledger benchmark runs on PostgreSQL: pass --database-url postgresql+psycopg://…")
    tag = f"{int(time.time())}"
    report: dict[str, Any] = {"workload": asdict(workload), "contenders": {}}
    contenders = report["contenders"]

    for name, batch_size in (("kogi_single", 1), ("kogi_batched", workload.batch_size)):
        url, _ = fresh_database(database_url, f"kogi_bench_{name}_{tag}")
        _setup_kogi(url, workload)
        elapsed, results = _run_clients(
            _kogi_client, [(url, workload, client, batch_size, tag) for client in range(workload.clients)]
        )
        posted = sum(result["posted"] for result in results)
        contenders[name] = {
            "transfers": posted,
            "seconds": round(elapsed, 3),
            "transfers_per_s": round(posted / elapsed, 1),
            "entries_per_transaction": batch_size,
            "peak_rss_mib_per_client": round(max(result["peak_rss_mib"] for result in results), 1),
            "check": _check_kogi(url, workload.transfers),
        }

    if pgledger_path is not None:
        url, dsn = fresh_database(database_url, f"pgledger_bench_{tag}")
        account_ids = _setup_pgledger(dsn, pgledger_path, workload)
        elapsed, results = _run_clients(
            _pgledger_client, [(dsn, workload, client, account_ids) for client in range(workload.clients)]
        )
        posted = sum(result["posted"] for result in results)
        contenders["pgledger"] = {
            "transfers": posted,
            "seconds": round(elapsed, 3),
            "transfers_per_s": round(posted / elapsed, 1),
            "entries_per_transaction": 1,
        }
        base = contenders["pgledger"]["transfers_per_s"]
        report["ratios_vs_pgledger"] = {
            name: round(contenders[name]["transfers_per_s"] / base, 2) for name in ("kogi_single", "kogi_batched")
        }
    report["kogi_peak_rss_mib"] = max(contenders[n]["peak_rss_mib_per_client"] for n in ("kogi_single", "kogi_batched"))
    report["parent_peak_rss_mib"] = round(_peak_rss_mib(), 1)
    return report
