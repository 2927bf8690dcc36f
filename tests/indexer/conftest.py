"""Indexer fixtures: a Kogi core + one portfolio (token with revenue share, a funding round) on
the session anvil, deployed once per module, and a migrated ledger database per test on
SQLite and PostgreSQL. Each test is reverted by the `w3` snapshot fixture."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

from contracts.core import (
    CoreDeployment,
    PortfolioDeployment,
    PortfolioSpec,
    RoundSpec,
    deploy_dev_core,
    deploy_portfolio,
    verify_investors,
)
from contracts.deploy import transact
from contracts.funding import dev_private_key, invest_with_permit
from contracts.manifest import Manifest
from indexer import migrate as indexer_migrate
from indexer.follower import Follower
from indexer.rpc import RpcClient
from ledger import Database, LedgerStore
from ledger.chart import platform_store
from ledger.migrate import upgrade as ledger_upgrade

USDC = 10**6
TOKEN = 10**18
ROUND_WINDOW_S = 7 * 86_400
_db_counter = itertools.count()


@dataclass
class Stack:
    """A deployed core with one portfolio, its manifest, and the dev accounts' roles."""

    w3: Web3
    core: CoreDeployment
    portfolio: PortfolioDeployment
    manifest: Manifest
    admin: str
    treasury: str
    investors: list[str]
    arbiter: str

    @property
    def token(self) -> Contract:
        return self.portfolio.token

    @property
    def round(self) -> Contract:
        assert self.portfolio.round is not None
        return self.portfolio.round

    @property
    def rights(self) -> Contract:
        assert self.portfolio.rights_token is not None
        return self.portfolio.rights_token

    @property
    def stablecoin(self) -> Contract:
        assert self.core.stablecoin is not None
        return self.core.stablecoin

    def send(self, fn: Any, sender: str | None = None) -> Any:
        return transact(fn, sender or self.admin)

    def invest(self, investor: str, amount_units: int, nonce: int) -> Any:
        return invest_with_permit(
            self.w3,
            self.round,
            investor=investor,
            amount_units=amount_units,
            signer_key=dev_private_key(9),
            nonce=nonce,
        )


def build_stack(w3: Web3, *, soft_cap_units: int = 100 * USDC, hard_cap_units: int = 1_000 * USDC) -> Stack:
    accounts = w3.eth.accounts
    admin, treasury = accounts[0], accounts[7]
    core = deploy_dev_core(w3, arbiter=accounts[6])  # admin (accounts[0]) is the creator here
    start = int(w3.eth.get_block("latest")["timestamp"])
    stablecoin = core.stablecoin
    assert stablecoin is not None
    portfolio = deploy_portfolio(
        w3,
        core,
        PortfolioSpec(
            admin=admin,
            treasury=treasury,
            name="Indexed",
            symbol="IDX",
            issuer=admin,
            revenue_token=stablecoin.address,
            with_rights=True,
            round=RoundSpec(
                stablecoin.address,
                USDC,
                soft_cap_units,
                hard_cap_units,
                USDC,
                hard_cap_units,
                start,
                start + ROUND_WINDOW_S,
                250,
                (5_000, 5_000),
            ),
        ),
    )
    investors = list(accounts[1:6])
    verify_investors(core, investors + [admin, treasury])
    assert portfolio.round is not None
    for investor in investors:
        transact(stablecoin.functions.mint(investor, 10_000 * USDC), admin)
        transact(stablecoin.functions.approve(portfolio.round.address, 2**256 - 1), investor)
    return Stack(w3, core, portfolio, Manifest.of(core), admin, treasury, investors, accounts[6])


@pytest.fixture(scope="module")
def stack_deployed(anvil_chain: Any) -> Stack:
    return build_stack(anvil_chain.web3())


@pytest.fixture()
def stack(stack_deployed: Stack, w3: Web3) -> Stack:
    """The module's stack, reverted after each test (through the `w3` snapshot fixture)."""
    return stack_deployed


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/indexer-{next(_db_counter)}.db"
    server = request.getfixturevalue("postgres_server")
    return str(server.create_database(f"indexer_{next(_db_counter)}"))


@pytest.fixture()
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/indexer-{next(_db_counter)}.db"


def migrated(url: str) -> Database:
    database = Database(url)
    ledger_upgrade(database.write_engine)
    indexer_migrate.upgrade(database.write_engine)
    return database


@pytest.fixture()
def store(database_url: str) -> Iterator[LedgerStore]:
    database = migrated(database_url)
    try:
        yield platform_store(database)
    finally:
        database.dispose()


@pytest.fixture()
def rpc(anvil_chain: Any) -> Iterator[RpcClient]:
    client = RpcClient(anvil_chain.rpc_url)
    try:
        yield client
    finally:
        client.close()


def make_follower(store: LedgerStore, rpc: RpcClient, stack: Stack, **kwargs: Any) -> Follower:
    """Followers of one test are the same logical indexer restarting (same lease owner)."""
    kwargs.setdefault("owner", "test-indexer")
    return Follower(store, rpc, stack.manifest, **kwargs)
