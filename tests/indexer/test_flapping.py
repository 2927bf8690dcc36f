"""A provider flipping between two forks (issue 8, item 16): the follower backs off (bounded
exponential), writes ONE alert, goes on when the chain settles, and a restart on either fork
proceeds. Two real forks: the session anvil and a second anvil forked from it at the indexed
block, behind one RpcClient that switches between them on a (fake) clock. Both backends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from web3 import Web3

from contracts.anvil import AnvilProcess
from contracts.deploy import at, transact
from indexer.alerts import open_alerts
from indexer.follower import MAX_FLAP_BACKOFF_S, MAX_REPOSTS, Follower, StepResult
from indexer.reconcile import reconcile
from indexer.rpc import RpcClient
from ledger import LedgerStore
from ledger.chart import platform_store
from tests.indexer.conftest import TOKEN, Stack, make_follower
from tests.indexer.test_reorg_restart import all_entries, holder_units
from tests.servers import free_port

FLIP_EVERY_S = 0.25
FLAPPING_FOR_S = 90.0


class FakeClock:
    def __init__(self, start_s: float) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        self.now_s += seconds


class FlappingNode(RpcClient):
    """One RPC URL for the follower; behind it two nodes on different forks. Until `settle_at_s` it
    serves fork A or fork B in turns of FLIP_EVERY_S (clock time), then fork `settled` only."""

    def __init__(self, urls: tuple[str, str], clock: FakeClock, settle_at_s: float, settled: int) -> None:
        super().__init__(urls[0])
        self.urls, self.clock, self.settle_at_s, self.settled = urls, clock, settle_at_s, settled
        self.started_s = clock()

    def _post(self, payload: Any) -> Any:
        now_s = self.clock()
        side = self.settled if now_s >= self.settle_at_s else int((now_s - self.started_s) / FLIP_EVERY_S) % 2
        self.url = self.urls[side]
        return super()._post(payload)


@pytest.fixture()
def fork_b(stack: Stack, anvil_chain: Any) -> Iterator[AnvilProcess]:
    """A second anvil forked from the session anvil at its current head (same history below)."""
    anvil = AnvilProcess(
        port=free_port(),
        extra_args=["--fork-url", anvil_chain.rpc_url, "--fork-block-number", str(stack.w3.eth.block_number)],
    ).start()
    try:
        yield anvil
    finally:
        anvil.stop()


def tip_hash(w3: Web3) -> str:
    return "0x" + bytes(w3.eth.get_block("latest")["hash"]).hex()


def test_a_provider_flipping_between_two_forks_backs_off_alerts_once_and_follows_the_settled_fork(
    stack: Stack,
    store: LedgerStore,
    rpc: RpcClient,
    anvil_chain: Any,
    request: pytest.FixtureRequest,
) -> None:
    a, b = stack.investors[0], stack.investors[1]
    stack.send(stack.token.functions.mint(a, 10 * TOKEN))
    make_follower(store, rpc, stack, confirmations=5).sync(deadline_s=60)
    fork_b: AnvilProcess = request.getfixturevalue("fork_b")  # forked at the indexed head
    w3_b = fork_b.web3()
    stack.send(stack.token.functions.mint(a, 1 * TOKEN))  # fork A's next block
    transact(at(w3_b, "PortfolioToken", stack.token.address).functions.mint(b, 2 * TOKEN), stack.admin)  # fork B's
    assert stack.w3.eth.block_number == w3_b.eth.block_number and tip_hash(stack.w3) != tip_hash(w3_b)

    clock = FakeClock(1_000_000.0)
    node = FlappingNode((anvil_chain.rpc_url, fork_b.rpc_url), clock, clock() + FLAPPING_FOR_S, settled=1)
    follower = make_follower(platform_store(store.db), node, stack, confirmations=5, clock_s=clock)
    results: list[StepResult] = []
    states: list[str] = []
    step = follower.step

    def recording_step() -> StepResult:
        result = step()
        results.append(result)
        states.append(follower.status.state)
        return result

    follower.step = recording_step  # type: ignore[method-assign]
    settled_tip = tip_hash(w3_b)

    def settled_and_caught_up() -> bool:
        cursor = follower.state.cursor()
        assert len(results) < 5_000, "the follower never got past the flapping"
        return (
            clock() > node.settle_at_s
            and cursor is not None
            and cursor.last_block_hash == settled_tip
            and follower.status.state == "running"
        )

    try:
        follower.run(should_stop=settled_and_caught_up, poll_s=0.1, sleep=clock.sleep)  # before: RuntimeError
    finally:
        node.close()

    chain = stack.w3.eth.chain_id
    (alert,) = open_alerts(store.db, chain_id=chain)  # ONE alert for the whole episode
    assert alert.kind == "chain_flapping" and alert.severity == "warning" and "flapping" in alert.message
    backoffs = [r for r in results if r.backing_off is not None]
    assert backoffs and all("flapping" in r.backing_off for r in backoffs if r.backing_off)
    assert max(r.retry_in_s for r in backoffs) <= MAX_FLAP_BACKOFF_S
    assert "backing_off" in states and states[-1] == "running"
    flips = sum(1 for r in results if r.reorg_depth)
    assert flips < FLAPPING_FOR_S / FLIP_EVERY_S / 2  # backing off: far fewer rollbacks than the provider's flips
    generations = [int(e.idempotency_key.rsplit("~", 1)[1]) for e in all_entries(store) if "~" in e.idempotency_key]
    assert max(generations) > MAX_REPOSTS  # the blocks came back more often than the old hard limit allowed
    assert (holder_units(store, stack, a), holder_units(store, stack, b)) == (10 * TOKEN, 2 * TOKEN)
    with RpcClient(fork_b.rpc_url) as on_b:
        assert reconcile(store, on_b, chain_id=chain).differences == []

    # restarts on either fork proceed (before: "reversed 8 times; the chain is flapping", every time)
    with RpcClient(anvil_chain.rpc_url) as on_a:
        Follower(platform_store(store.db), on_a, stack.manifest, confirmations=5, owner="test-indexer").sync(
            deadline_s=60
        )
        assert (holder_units(store, stack, a), holder_units(store, stack, b)) == (11 * TOKEN, 0)
        assert reconcile(store, on_a, chain_id=chain).differences == []
    with RpcClient(fork_b.rpc_url) as on_b:
        make_follower(platform_store(store.db), on_b, stack, confirmations=5).sync(deadline_s=60)
        assert (holder_units(store, stack, a), holder_units(store, stack, b)) == (10 * TOKEN, 2 * TOKEN)
    assert len(open_alerts(store.db, chain_id=chain)) == 1
    assert store.verify("main").ok
