"""One active follower per chain: the lease holder writes, others stand by; a silent holder is
replaced after the lease expires, and its late cursor write is fenced off."""

from __future__ import annotations

import pytest

from indexer.reconcile import reconcile
from indexer.rpc import RpcClient
from indexer.state import LeaseLost
from ledger import LedgerStore
from ledger.chart import platform_store
from tests.indexer.conftest import TOKEN, Stack, make_follower
from tests.indexer.test_reorg_restart import all_entries

LEASE_TTL_S = 10.0


def test_standby_then_takeover_and_the_paused_holder_is_fenced(
    stack: Stack,
    store: LedgerStore,
    rpc: RpcClient,
) -> None:
    for i in range(6):
        stack.send(stack.token.functions.mint(stack.investors[i % 3], (i + 1) * TOKEN))
    now_s = [1_000.0]
    options = dict(lease_ttl_s=LEASE_TTL_S, clock_s=lambda: now_s[0], max_blocks_per_step=3, confirmations=2)
    first = make_follower(store, rpc, stack, owner="first", **options)
    second = make_follower(platform_store(store.db), rpc, stack, owner="second", **options)

    assert first.step().blocks
    cursor = first.state.cursor()
    standby = second.step()
    assert standby.standby and second.state.cursor() == cursor  # the standby wrote nothing

    original_post = first._post

    def post_then_stall(plan, bodies=None):  # type: ignore[no-untyped-def]
        posted = original_post(plan, bodies)
        now_s[0] += LEASE_TTL_S + 1  # `first` stalls past its lease …
        assert not second.step().standby  # … and `second` takes over and moves on
        return posted

    first._post = post_then_stall  # type: ignore[method-assign]
    with pytest.raises(LeaseLost, match="lost to second"):
        first.step()  # its cursor write is fenced off
    first._post = original_post  # type: ignore[method-assign]

    # a holder that stalls BEFORE posting does not post at all (the renewal right before fails)
    second.sync(deadline_s=60)
    original_ensure = second._ensure_assets
    stack.send(stack.token.functions.mint(stack.investors[0], 1 * TOKEN))  # the only new block
    before = len(all_entries(store))

    def stall_before_post(codes):  # type: ignore[no-untyped-def]
        now_s[0] += LEASE_TTL_S + 1
        assert not first.step().standby  # `first` takes the chain back meanwhile (epoch 3)
        return original_ensure(codes)

    second._ensure_assets = stall_before_post  # type: ignore[method-assign]
    with pytest.raises(LeaseLost, match="before posting"):
        second.step()
    second._ensure_assets = original_ensure  # type: ignore[method-assign]
    assert len(all_entries(store)) == before + 1  # `first` posted the mint; `second` posted nothing
    first.close()

    second.sync(deadline_s=60)
    assert second.lease is not None and second.lease.epoch == 4
    entries = all_entries(store)
    assert [e.kind for e in entries].count("mint") == 7
    assert len({e.external_ref for e in entries}) == len(entries)
    assert reconcile(store, rpc, chain_id=stack.w3.eth.chain_id).differences == []


def test_a_clean_shutdown_hands_over_at_once(stack: Stack, store: LedgerStore, rpc: RpcClient) -> None:
    now_s = [5_000.0]
    first = make_follower(store, rpc, stack, owner="first", clock_s=lambda: now_s[0])
    second = make_follower(platform_store(store.db), rpc, stack, owner="second", clock_s=lambda: now_s[0])
    first.sync(deadline_s=60)
    assert second.step().standby
    first.close()
    assert not second.step().standby  # no waiting for the lease to expire


def test_a_holder_that_stalls_after_renewing_posts_nothing(stack: Stack, store: LedgerStore, rpc: RpcClient) -> None:
    """The window between the last renewal and the commit is fenced inside the ledger transaction."""
    now_s = [1_000.0]
    options = dict(lease_ttl_s=LEASE_TTL_S, clock_s=lambda: now_s[0], max_blocks_per_step=3, confirmations=2)
    first = make_follower(store, rpc, stack, owner="first", **options)
    second = make_follower(platform_store(store.db), rpc, stack, owner="second", **options)
    first.sync(deadline_s=60)
    stack.send(stack.token.functions.mint(stack.investors[0], 2 * TOKEN))
    before = len(all_entries(store))
    original_renew = first._renew_lease

    def renew_then_stall() -> None:
        original_renew()  # the renewal succeeds …
        now_s[0] += LEASE_TTL_S + 1  # … then `first` stalls past its lease and `second` takes it
        assert second.state.acquire_lease("second", int(now_s[0] * 1e6), int(LEASE_TTL_S * 1e6)) is not None

    first._renew_lease = renew_then_stall  # type: ignore[method-assign]
    with pytest.raises(LeaseLost, match="lost to second"):
        first.step()  # raised by the fence inside the ledger transaction: the mint is not posted
    first._renew_lease = original_renew  # type: ignore[method-assign]
    assert len(all_entries(store)) == before
    second.sync(deadline_s=60)
    entries = all_entries(store)
    assert len(entries) == before + 1
    assert len({e.external_ref for e in entries}) == len(entries)
    assert reconcile(store, rpc, chain_id=stack.w3.eth.chain_id).differences == []
