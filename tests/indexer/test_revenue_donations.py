"""Revenue deposits/claims on the token and donations through the router are mirrored."""

from __future__ import annotations

from contracts.deploy import transact
from indexer.mapping import erc20_asset, native_asset, pool_account, treasury_account
from indexer.reconcile import reconcile
from indexer.rpc import RpcClient
from ledger import LedgerStore
from tests.indexer.conftest import TOKEN, USDC, Stack, make_follower

ETH_DONATION_WEI = 10**16


def test_revenue_deposit_and_claims_follow_the_pool(stack: Stack, store: LedgerStore, rpc: RpcClient) -> None:
    a, b = stack.investors[0], stack.investors[1]
    stack.send(stack.token.functions.mint(a, 3 * TOKEN))
    stack.send(stack.token.functions.mint(b, 1 * TOKEN))
    depositor = stack.admin
    stack.send(stack.stablecoin.functions.mint(depositor, 1_000 * USDC))
    stack.send(stack.stablecoin.functions.approve(stack.token.address, 2**256 - 1), depositor)
    stack.send(stack.token.functions.deposit(400 * USDC), depositor)
    stack.send(stack.token.functions.claim(), a)

    make_follower(store, rpc, stack, confirmations=0).sync(deadline_s=60)

    chain = stack.w3.eth.chain_id
    usdc = erc20_asset(chain, stack.stablecoin.address)
    pool = store.get_balance("main", pool_account(chain, stack.token.address), usdc).posted_units
    claims = [e for e in store.list_entries("main", limit=100) if e.kind == "claim"]
    assert len(claims) == 1 and claims[0].metadata["holder"] == a.lower()
    claimed = claims[0].legs[0].amount_units
    assert 299 * USDC < claimed <= 300 * USDC  # pro rata 3/4, rounded down to whole base units
    assert pool == 400 * USDC - claimed == stack.stablecoin.functions.balanceOf(stack.token.address).call()
    report = reconcile(store, rpc, chain_id=chain)
    assert report.differences == [] and any(row.account.startswith("distribution:") for row in report.rows)


def test_erc20_and_eth_donations_reach_the_treasury_less_fees(stack: Stack, store: LedgerStore, rpc: RpcClient) -> None:
    router, donor = stack.core.donation_router, stack.investors[3]
    pid = stack.portfolio.portfolio_id
    stack.send(stack.stablecoin.functions.approve(router.address, 2**256 - 1), donor)
    stack.send(router.functions.donate(pid, 0, stack.stablecoin.address, 100 * USDC, "for the album", False), donor)
    transact(
        router.functions.donate(pid, 1, "0x" + "00" * 20, ETH_DONATION_WEI, "tip!", True),
        donor,
        value_wei=ETH_DONATION_WEI,
    )

    make_follower(store, rpc, stack, confirmations=0).sync(deadline_s=60)

    chain = stack.w3.eth.chain_id
    usdc, eth = erc20_asset(chain, stack.stablecoin.address), native_asset(chain)
    treasury = treasury_account(chain, pid)
    assert store.get_balance("main", treasury, usdc).posted_units == 100 * USDC * 9_750 // 10_000
    assert store.get_balance("main", "platform:fees", usdc).posted_units == 100 * USDC * 250 // 10_000
    assert store.get_balance("main", treasury, eth).posted_units == ETH_DONATION_WEI * 9_750 // 10_000
    donations = sorted(
        (e.metadata["donation_kind"], e.metadata["donor"], e.metadata["message"])
        for e in store.list_entries("main", limit=100)
        if e.kind == "donation"
    )
    assert donations == [("donation", donor.lower(), "for the album"), ("tip", None, "tip!")]
    assert store.trial_balance("main").balanced
