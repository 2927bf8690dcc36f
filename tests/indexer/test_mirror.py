"""Token and funding-round events are mirrored into the ledger exactly, on both backends."""

from __future__ import annotations

from indexer.mapping import (
    erc20_asset,
    escrow_account,
    holder_account,
    mint_account,
    rights_asset,
    token_asset,
    treasury_account,
    world_account,
)
from indexer.reconcile import reconcile
from indexer.rpc import RpcClient
from ledger import LedgerStore
from tests.indexer.conftest import TOKEN, USDC, Stack, make_follower


def balance(store: LedgerStore, account: str, asset: str) -> int:
    return store.get_balance("main", account, asset).posted_units


def test_token_mint_transfer_burn_are_mirrored_exactly(stack: Stack, store: LedgerStore, rpc: RpcClient) -> None:
    a, b = stack.investors[0], stack.investors[1]
    stack.send(stack.token.functions.mint(a, 100 * TOKEN))
    stack.send(stack.token.functions.transfer(b, 30 * TOKEN), a)
    stack.send(stack.token.functions.burn(b, 5 * TOKEN), b)  # a holder burns its own

    follower = make_follower(store, rpc, stack, confirmations=0)
    follower.sync(deadline_s=60)

    chain = stack.w3.eth.chain_id
    asset = token_asset(chain, stack.token.address)
    assert balance(store, holder_account(chain, a), asset) == 70 * TOKEN
    assert balance(store, holder_account(chain, b), asset) == 25 * TOKEN
    # the mint account is equity: minted supply shows as a negative balance
    assert balance(store, mint_account(chain), asset) == -95 * TOKEN
    kinds = sorted(e.kind for e in store.list_entries("main", limit=100))
    assert kinds == ["burn", "mint", "transfer"]
    assert store.trial_balance("main").balanced and store.verify("main").ok
    assert reconcile(store, rpc, chain_id=chain).differences == []


def test_funding_round_invest_refund_release_are_mirrored(stack: Stack, store: LedgerStore, rpc: RpcClient) -> None:
    r = stack.round
    first, second = stack.investors[0], stack.investors[1]
    stack.invest(first, 600 * USDC, nonce=1)
    stack.invest(second, 400 * USDC, nonce=2)  # hard cap 1,000 reached: the round succeeded
    stack.send(r.functions.claimTokens(), first)
    stack.send(r.functions.approveMilestoneAsIssuer(0))
    stack.send(r.functions.approveMilestoneAsArbiter(0), stack.arbiter)
    stack.send(r.functions.releaseMilestone(0))

    follower = make_follower(store, rpc, stack, confirmations=0)
    follower.sync(deadline_s=60)

    chain = stack.w3.eth.chain_id
    usdc = erc20_asset(chain, stack.stablecoin.address)
    escrow = escrow_account(chain, r.address)
    assert store.get_asset("main", usdc).scale == 6
    assert balance(store, escrow, usdc) == 500 * USDC  # half released
    assert balance(store, treasury_account(chain, stack.portfolio.portfolio_id), usdc) == 500 * USDC * 9_750 // 10_000
    assert balance(store, "platform:fees", usdc) == 500 * USDC * 250 // 10_000
    assert balance(store, world_account(chain), usdc) == 1_000 * USDC  # asset type: debit-normal
    assert (
        balance(store, holder_account(chain, first), token_asset(chain, stack.token.address))
        == stack.token.functions.balanceOf(first).call()
    )
    assert stack.stablecoin.functions.balanceOf(r.address).call() == 500 * USDC
    assert reconcile(store, rpc, chain_id=chain).differences == []


def test_refunds_of_a_cancelled_round_are_mirrored(stack: Stack, store: LedgerStore, rpc: RpcClient) -> None:
    r = stack.round
    investor = stack.investors[2]
    stack.invest(investor, 50 * USDC, nonce=7)
    stack.send(r.functions.cancel())
    stack.send(r.functions.claimRefund(), investor)

    make_follower(store, rpc, stack, confirmations=0).sync(deadline_s=60)

    chain = stack.w3.eth.chain_id
    usdc = erc20_asset(chain, stack.stablecoin.address)
    assert balance(store, escrow_account(chain, r.address), usdc) == 0
    kinds = sorted(e.kind for e in store.list_entries("main", limit=100))
    assert kinds == ["investment", "refund"]
    assert reconcile(store, rpc, chain_id=chain).differences == []


def test_rights_token_single_and_batch_transfers_are_mirrored_per_id(
    stack: Stack, store: LedgerStore, rpc: RpcClient
) -> None:
    rights, a, b = stack.rights, stack.investors[0], stack.investors[1]
    big_id = 2**256 - 1
    for right_id in (1, big_id):
        stack.send(rights.functions.createRight(right_id, 0, False, 0, f"ipfs://right/{right_id}", "0x" + "00" * 20, 0))
        stack.send(rights.functions.mint(a, right_id, 10))
    stack.send(rights.functions.safeBatchTransferFrom(a, b, [1, big_id], [3, 4], b""), a)
    stack.send(rights.functions.safeTransferFrom(b, a, 1, 1, b""), b)

    make_follower(store, rpc, stack, confirmations=0).sync(deadline_s=60)

    chain = stack.w3.eth.chain_id
    for right_id, (units_a, units_b) in ((1, (8, 2)), (big_id, (6, 4))):
        asset = rights_asset(chain, rights.address, right_id)
        assert len(asset) <= 128 and store.get_asset("main", asset).scale == 0
        assert balance(store, holder_account(chain, a), asset) == units_a
        assert balance(store, holder_account(chain, b), asset) == units_b
    batch = [e for e in store.list_entries("main", limit=100) if e.kind == "transfer" and ".0@" in e.external_ref]
    assert len(batch) == 1  # the batch's first id; the second carries ".1@"
    report = reconcile(store, rpc, chain_id=chain)
    assert report.differences == [] and sum(row.asset.startswith("RGT:") for row in report.rows) == 6
