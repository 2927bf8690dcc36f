"""A reorg that replaces a portfolio's creation (same factory nonce: same clone addresses, another
configuration) re-registers the contracts from the canonical chain inside the rollback, and
`reconcile` compares every registered contract's configuration with the chain (issue 8, item 16).
Both backends (the `store` fixture)."""

from __future__ import annotations

from typing import Any

import typer
from sqlalchemy import select, update
from typer.testing import CliRunner

from api.cli.indexer import reconcile as reconcile_command
from contracts.core import PortfolioDeployment, PortfolioSpec, deploy_portfolio
from contracts.deploy import deploy_contract
from indexer.mapping import ZERO_ADDRESS, ContractInfo, erc20_asset, pool_account
from indexer.reconcile import reconcile
from indexer.rpc import RpcClient
from indexer.state import contracts_t
from ledger import LedgerStore
from ledger.chart import platform_store
from tests.indexer.conftest import TOKEN, USDC, Stack, make_follower
from tests.indexer.test_reorg_restart import all_entries, assert_ledger_matches_canonical_chain, revert, snapshot

CONFIRMATIONS = 10


def create_portfolio(stack: Stack, revenue_token: str, symbol: str) -> PortfolioDeployment:
    """A token-only portfolio (revenue share in `revenue_token`, zero: none) through the factory."""
    return deploy_portfolio(
        stack.w3,
        stack.core,
        PortfolioSpec(
            admin=stack.admin,
            treasury=stack.treasury,
            name=symbol,
            symbol=symbol,
            issuer=stack.admin,
            revenue_token=revenue_token,
        ),
    )


def deposit_revenue(stack: Stack, token: Any, erc20: Any, units: int) -> None:
    depositor = stack.admin
    stack.send(erc20.functions.mint(depositor, units))
    stack.send(erc20.functions.approve(token.address, 2**256 - 1), depositor)
    stack.send(token.functions.deposit(units), depositor)


def registration(store: LedgerStore, chain: int, address: str) -> tuple[ContractInfo, int]:
    """The row of `indexer_contracts` for `address` (read directly: what the follower stored)."""
    with store.db.read() as conn:
        row = conn.execute(
            select(contracts_t).where(contracts_t.c.chain_id == chain, contracts_t.c.address == address.lower())
        ).one()
    return ContractInfo(chain, row.address, row.kind, row.portfolio_id, row.asset_address), int(row.discovered_at_block)


def test_a_reorg_replacing_a_portfolio_creation_re_registers_its_contracts(
    stack: Stack, store: LedgerStore, rpc: RpcClient
) -> None:
    w3, chain, a = stack.w3, stack.w3.eth.chain_id, stack.investors[0]
    other = deploy_contract(w3, "MockStablecoin", sender=stack.admin)  # a second ERC-20, on both branches
    follower = make_follower(store, rpc, stack, confirmations=CONFIRMATIONS)
    follower.sync(deadline_s=60)
    fork_point = snapshot(w3)
    orphaned = create_portfolio(stack, stack.stablecoin.address, "OLD")  # revenue in the stablecoin
    stack.send(orphaned.token.functions.mint(a, 2 * TOKEN))
    deposit_revenue(stack, orphaned.token, stack.stablecoin, 6 * USDC)
    follower.sync(deadline_s=60)
    old_token = orphaned.token.address.lower()
    assert registration(store, chain, old_token)[0].asset_address == stack.stablecoin.address.lower()

    revert(w3, fork_point)
    w3.provider.make_request("anvil_mine", [1])  # the creation lands one block later than before
    canonical = create_portfolio(stack, other.address, "NEW")  # same factory nonce: same addresses
    assert canonical.token.address.lower() == old_token
    stack.send(canonical.token.functions.mint(a, 3 * TOKEN))
    deposit_revenue(stack, canonical.token, other, 8 * USDC)
    stack.send(canonical.token.functions.claim(), a)
    w3.provider.make_request("anvil_mine", [2])  # the canonical branch outgrows the orphaned one
    follower.sync(deadline_s=60)

    info, block = registration(store, chain, old_token)
    assert (info.asset_address, block) == (other.address.lower(), canonical.block_number)
    pool = pool_account(chain, old_token)
    in_other = store.get_balance("main", pool, erc20_asset(chain, other.address)).posted_units
    assert in_other == other.functions.balanceOf(canonical.token.address).call() > 0
    (claim,) = [e for e in all_entries(store) if e.kind == "claim"]  # only the canonical branch claimed
    assert {leg.asset for leg in claim.legs} == {erc20_asset(chain, other.address)}  # in the new revenue token
    assert claim.legs[0].amount_units == other.functions.balanceOf(a).call() > 0
    assert store.get_balance("main", pool, erc20_asset(chain, stack.stablecoin.address)).posted_units == 0
    assert_ledger_matches_canonical_chain(store, w3)
    report = reconcile(store, rpc, chain_id=chain)
    assert report.differences == [] and report.config_differences == []
    assert {(row.contract, row.item) for row in report.config} >= {(old_token, "revenueToken"), (old_token, "created")}
    assert store.verify("main").ok


def test_a_reorg_onto_a_creation_with_a_revenue_token_does_not_crash_the_restarts(
    stack: Stack, store: LedgerStore, rpc: RpcClient
) -> None:
    """The orphaned set had no revenue token; the canonical one has, and takes a deposit: before the
    fix every (re)start raised "token … holds no ERC-20 but emitted RevenueDeposited"."""
    w3, chain, a = stack.w3, stack.w3.eth.chain_id, stack.investors[0]
    follower = make_follower(store, rpc, stack, confirmations=CONFIRMATIONS)
    follower.sync(deadline_s=60)
    fork_point = snapshot(w3)
    orphaned = create_portfolio(stack, ZERO_ADDRESS, "NONE")
    stack.send(orphaned.token.functions.mint(a, 1 * TOKEN))
    follower.sync(deadline_s=60)
    assert registration(store, chain, orphaned.token.address)[0].asset_address is None

    revert(w3, fork_point)
    canonical = create_portfolio(stack, stack.stablecoin.address, "REV")
    assert canonical.token.address == orphaned.token.address
    stack.send(canonical.token.functions.mint(a, 5 * TOKEN))
    deposit_revenue(stack, canonical.token, stack.stablecoin, 7 * USDC)
    w3.provider.make_request("anvil_mine", [1])
    follower.sync(deadline_s=60)
    make_follower(platform_store(store.db), rpc, stack, confirmations=CONFIRMATIONS).sync(deadline_s=60)  # a restart

    token = canonical.token.address.lower()
    assert registration(store, chain, token)[0].asset_address == stack.stablecoin.address.lower()
    pool = store.get_balance("main", pool_account(chain, token), erc20_asset(chain, stack.stablecoin.address))
    assert pool.posted_units == 7 * USDC
    assert_ledger_matches_canonical_chain(store, w3)
    report = reconcile(store, rpc, chain_id=chain)
    assert report.differences == [] and report.config_differences == []


def test_reconcile_names_every_registration_that_differs_from_the_chain(
    stack: Stack, store: LedgerStore, rpc: RpcClient, anvil_chain: Any
) -> None:
    """A stale registration (as the reorg above left before the fix) is a difference of `kogi
    reconcile` even when no balance differs: revenue token, round stablecoin and token, code, creation."""
    chain = stack.w3.eth.chain_id
    follower = make_follower(store, rpc, stack, confirmations=CONFIRMATIONS)
    follower.sync(deadline_s=60)
    report = reconcile(store, rpc, chain_id=chain)
    assert report.differences == [] and report.config_differences == []
    items = {(row.contract, row.item) for row in report.config}
    token, round_ = stack.token.address.lower(), stack.round.address.lower()
    assert {
        (token, "revenueToken"),
        (token, "code"),
        (token, "created"),
        (round_, "stablecoin"),
        (round_, "token"),
        (stack.core.factory.address.lower(), "code"),
    } <= items

    bogus = "0x" + "5e" * 20
    cursor = follower.state.cursor()
    assert cursor is not None
    stale_block = registration(store, chain, token)[1]

    def tamper(conn: Any) -> None:
        conn.execute(
            update(contracts_t)
            .where(contracts_t.c.chain_id == chain, contracts_t.c.address == token)
            .values(asset_address=None, discovered_at_block=stale_block + 1)
        )
        conn.execute(
            update(contracts_t)
            .where(contracts_t.c.chain_id == chain, contracts_t.c.address == round_)
            .values(asset_address=bogus)
        )

    store.db.run_write(tamper)
    follower.state.add_contracts([(ContractInfo(chain, bogus, "splitter", 77), cursor.last_block)])

    report = reconcile(store, rpc, chain_id=chain)
    assert report.differences == []  # the balances alone say nothing
    found = {(row.contract, row.item): (row.indexed, row.chain) for row in report.config_differences}
    portfolio = stack.portfolio.portfolio_id
    assert found == {
        (token, "revenueToken"): ("none", stack.stablecoin.address.lower()),
        (token, "created"): (
            f"token of portfolio {portfolio} at block {stale_block + 1}",
            f"token of portfolio {portfolio} at block {stale_block}",
        ),
        (round_, "stablecoin"): (bogus, stack.stablecoin.address.lower()),
        (bogus, "code"): ("contract", f"no code at block {cursor.last_block}"),
        (bogus, "created"): (
            f"splitter of portfolio 77 at block {cursor.last_block}",
            f"not created by a followed factory up to block {cursor.last_block}",
        ),
    }

    app = typer.Typer()
    app.command("reconcile")(reconcile_command)
    app.command("unused")(lambda: None)  # two commands: `reconcile` stays a sub-command
    result = CliRunner().invoke(app, ["reconcile", "--rpc-url", anvil_chain.rpc_url, "--database-url", store.db.url])
    assert result.exit_code == 1, result.output
    assert "5 of " in result.output and "contract configuration items differ" in result.output
    assert f"token {token} revenueToken: indexed none, chain {stack.stablecoin.address.lower()}" in result.output
    assert "5 difference(s) at block" in result.output
