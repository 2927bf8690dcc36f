"""Ledger fixtures: every store test runs on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger import AccountingType, AssetKind, Database, LedgerStore
from ledger.migrate import upgrade
from tests.servers import PostgresServer

_db_counter = itertools.count()


def make_database_url(backend: str, tmp_path: Path, postgres_server: PostgresServer | None) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/ledger-{next(_db_counter)}.db"
    assert postgres_server is not None
    return postgres_server.create_database(f"ledger_{next(_db_counter)}")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture()
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    server = request.getfixturevalue("postgres_server") if backend == "postgresql" else None
    return make_database_url(backend, tmp_path, server)


@pytest.fixture()
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    upgrade(db.write_engine)
    try:
        yield db
    finally:
        db.dispose()


CORE_CHART: tuple = ()
"""The chain-agnostic core's tests run under a chart without account-code rules, so holders can
be `holder:alice`; the platform chart's holder rule (ledger.chart) has its own tests, on a store
with the default rules."""


@pytest.fixture()
def store(database: Database) -> LedgerStore:
    """A ledger 'main' with USD (scale 2), a token (scale 18), world and holder accounts."""
    ledger_store = LedgerStore(database, account_code_rules=CORE_CHART)
    ledger_store.create_ledger("main")
    ledger_store.create_asset("main", "USD", 2, AssetKind.FIAT)
    ledger_store.create_asset(
        "main", "PTK:31337:0xabc", 18, AssetKind.PORTFOLIO_TOKEN, chain_id=31337, contract_address="0xabc"
    )
    ledger_store.create_account("main", "external:bank", AccountingType.ASSET)
    ledger_store.create_account("main", "chain:31337:mint", AccountingType.EQUITY)
    ledger_store.add_account_template("main", "holder:*", AccountingType.LIABILITY, no_overdraft=True)
    ledger_store.add_account_template("main", "platform:*", AccountingType.INCOME, no_overdraft=True)
    return ledger_store
