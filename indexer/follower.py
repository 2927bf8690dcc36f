"""Follow one chain into the ledger: discover, fetch, decode, map, post, advance the cursor.

Finality policy (documented choice): entries are posted PROVISIONALLY as soon as a block
is seen, and a block is final once `confirmations` blocks sit on top of it. Consumers who
want only final entries compare an entry's `metadata.block_number` with
`cursor.last_block - confirmations`. The hashes (and entry ids) of the last
`confirmations` blocks are kept; a reorg inside that window is undone in one ledger
transaction: the orphaned blocks' entries reversed, the canonical blocks' entries posted, the
cursor moved (indexer.reorg, `Reorgs.rollback`); a deeper reorg writes an alert and raises
ReorgTooDeep: the follower stops, never silent divergence. A chain that got shorter than the
cursor is a lagging node unless the block at the window's edge (or the newest checkpoint at or
below the head) has another hash: then it is a reorg deeper than the window, raised at once.

A provider flipping between two forks (blocks coming back after their reversal, again and again)
makes the follower back off instead of dying: one `chain_flapping` alert, then bounded exponential
waits until the chain keeps the same block across a wait (`Follower.status` says so meanwhile;
indexer.reorg, `FlapGuard`).

Crash safety: entries are posted first (idempotent keys; each batch checks the lease inside
its transaction), then the cursor moves together with the recorded block hashes, entry ids
and checkpoints in one transaction (the ledger's database). A crash in between replays the
same keys on restart (no duplicates).

Speed: with `reader_process=True` the next range is read, mapped and digested in a child
process (indexer.reader) while the current one is posted.

This module is the step loop and the lease; the parts live beside it: reading a range
(indexer.ranges, shared with the reader process), posting it (indexer.posting), reorgs and
flapping (indexer.reorg), what a step did (indexer.status).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

import httpx

from contracts.manifest import Manifest
from indexer.decode import ARTIFACT_OF_KIND
from indexer.mapping import ContractInfo
from indexer.posting import MAX_ENTRIES_PER_POST, LedgerPoster
from indexer.ranges import Range, RangeFetcher
from indexer.reader import RangeReader, ReaderFailed
from indexer.reorg import MAX_FLAP_BACKOFF_S, MAX_REPOSTS, ChainFlapping, FlapGuard, Reorgs, ReorgTooDeep
from indexer.rpc import RpcClient, RpcError
from indexer.state import BlockEntry, Checkpoint, Cursor, IndexerState, Lease, LeaseLost
from indexer.status import FOLLOWER_STATES, FollowerStatus, StepResult
from ledger import EntryBody, LedgerStore
from ledger.chart import bootstrap_ledger
from ledger.policy import EffectiveTimePolicy

__all__ = [
    "DEFAULT_CONFIRMATIONS",
    "FOLLOWER_STATES",
    "MAX_BACKOFF_S",
    "MAX_ENTRIES_PER_POST",
    "MAX_FLAP_BACKOFF_S",
    "MAX_REPOSTS",
    "TRANSIENT_ERRORS",
    "ChainFlapping",
    "ChainMismatch",
    "Follower",
    "FollowerStatus",
    "ReorgTooDeep",
    "StepResult",
    "default_confirmations",
    "default_owner",
]
"""What callers take from here; ReorgTooDeep, FollowerStatus, StepResult and the flapping bounds are
defined in indexer.reorg and indexer.status and handed on, being part of what a Follower does."""

log = logging.getLogger("kogi.indexer")
T = TypeVar("T")

DEFAULT_CONFIRMATIONS = {
    1: 64,  # Ethereum mainnet: finalized after two epochs (~13 min)
    11155111: 64,  # Sepolia
    10: 400,  # OP Mainnet (2 s blocks): ~L1 finality
    8453: 400,  # Base (2 s blocks)
    42161: 3_200,  # Arbitrum One (0.25 s blocks)
    137: 256,  # Polygon PoS
    31337: 5,  # anvil: instant blocks; reorgs only when a test makes them
}
FALLBACK_CONFIRMATIONS = 64
MAX_BLOCKS_PER_STEP = 10_000
"""Blocks one step covers at most (bounds memory and the time between cursor commits)."""
INITIAL_STEP_BLOCKS = 10
"""The first step is small (its density is unknown: a dense chain put 80k events in a first
step of 100 blocks); steps then double while they hold fewer than MAX_EVENTS_PER_STEP events."""
MAX_EVENTS_PER_STEP = 20_000
"""Target events per step: the step size in blocks adapts to the event density (doubling while
below, scaled down when above), so memory stays bounded during a dense backfill."""
RENEW_AFTER_TTL_SHARE = 1 / 3
"""Before a ledger write the lease is renewed once a third of its TTL has passed since the last
renewal (not before every write: each renewal is a committed transaction of its own)."""
IDLE_POLL_S = 0.5
MAX_BACKOFF_S = 30.0
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (RpcError, httpx.HTTPError)
"""Errors `run` retries with backoff (RPC outages, lagging nodes); anything else stops it."""
STANDBY_POLL_S = 0.05
DEFAULT_LEASE_TTL_S = 30.0
"""A follower that stops renewing (crashed, partitioned) is replaced after this long. A restart
with the same `owner` resumes at once; clock skew between hosts must stay well below it."""


class ChainMismatch(RuntimeError):
    """The RPC endpoint serves another chain than the one this follower indexes."""


def default_owner() -> str:
    """Unique per process: a restarted process waits for the old lease to expire unless it is
    given the old owner name (`--owner`), which asserts that the old process is gone."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def default_confirmations(chain_id: int) -> int:
    return DEFAULT_CONFIRMATIONS.get(chain_id, FALLBACK_CONFIRMATIONS)


class Follower:
    """Mirrors one chain into one ledger. One active follower per chain (locking: see issue 4)."""

    def __init__(
        self,
        store: LedgerStore,
        rpc: RpcClient,
        manifest: Manifest,
        *,
        ledger: str = "main",
        confirmations: int | None = None,
        max_blocks_per_step: int = MAX_BLOCKS_PER_STEP,
        max_entries_per_post: int = MAX_ENTRIES_PER_POST,
        owner: str | None = None,
        lease_ttl_s: float = DEFAULT_LEASE_TTL_S,
        clock_s: Callable[[], float] = time.time,
        reader_process: bool = False,
    ) -> None:
        # Block timestamps are the chain's clock, not ours: a dev chain moves its time forward and a
        # backfill replays blocks older than the ledger, so no back-dating window applies here.
        self.store = store.with_effective_time_policy(EffectiveTimePolicy.UNBOUNDED)
        self.rpc = rpc
        self.manifest = manifest
        self.chain_id = manifest.chain_id
        self.ledger = ledger
        self.confirmations = default_confirmations(self.chain_id) if confirmations is None else confirmations
        if self.confirmations < 0:
            raise ValueError("confirmations must be >= 0")
        self.max_blocks_per_step = max_blocks_per_step
        self.max_events_per_step = MAX_EVENTS_PER_STEP
        self.step_blocks = min(INITIAL_STEP_BLOCKS, max_blocks_per_step)
        self.state = IndexerState(store.db, self.chain_id)
        self.owner = owner or default_owner()
        self.lease_ttl_s = lease_ttl_s
        self.clock_s = clock_s
        self.lease: Lease | None = None
        self._renewed_at_s = 0.0
        self.reader_process = reader_process
        """Read (and digest) the next range in a child process while posting (indexer.reader);
        needs a plain RPC URL and a database URL the child can open itself."""
        self._reader: RangeReader | None = None
        self._bootstrapped = False
        self.status = FollowerStatus("starting")
        """Updated by every step (and by `run` while it retries RPC errors); read from other threads."""
        self.ranges = RangeFetcher(
            rpc, self.state, self.store, chain_id=self.chain_id, ledger=ledger, confirmations=self.confirmations
        )
        self.poster = LedgerPoster(
            self.store,
            self.state,
            rpc,
            chain_id=self.chain_id,
            ledger=ledger,
            max_entries_per_post=max_entries_per_post,
        )
        self.flaps = FlapGuard(rpc, self.store, self.chain_id, clock_s)
        self.reorgs = Reorgs(
            self.store,
            self.state,
            rpc,
            self.ranges,
            self.poster,
            self.flaps,
            chain_id=self.chain_id,
            ledger=ledger,
            confirmations=self.confirmations,
        )

    # ---------------------------------------------------------------- bootstrap

    def bootstrap(self) -> None:
        """Ledger, templates and core contracts; the first cursor (idempotent)."""
        served = self.rpc.chain_id()
        if served != self.chain_id:
            raise ChainMismatch(f"manifest is for chain {self.chain_id} but the RPC serves chain {served}")
        bootstrap_ledger(self.store, self.ledger)
        start_block = self.manifest.start_block
        core = [
            (ContractInfo(self.chain_id, entry.address.lower(), name), entry.block_number)
            for name, entry in self.manifest.contracts.items()
            if name in ARTIFACT_OF_KIND
        ]
        self.state.add_contracts(core)
        if self.state.cursor() is None:
            before = max(0, start_block - 1)
            header = self.rpc.get_headers([before])[before]
            self.state.start(before, header.hash, header.parent_hash)
        if self.reader_process and self._reader is None:
            self._reader = RangeReader(self.store.db.url, self.rpc.url, self.manifest, self.ledger, self.confirmations)
        self._bootstrapped = True

    # --------------------------------------------------------------------- step

    def step(self) -> StepResult:
        """Process up to `step_blocks` new blocks (or undo a reorg). Returns what it did."""
        if not self._bootstrapped:
            self.bootstrap()
        now_s = self.clock_s()
        self.lease = self.state.acquire_lease(self.owner, int(now_s * 1e6), int(self.lease_ttl_s * 1e6))
        self._renewed_at_s = now_s
        cursor = self.state.cursor()
        assert cursor is not None
        if self.lease is None:
            self.status = self._lease_wait_status(now_s)
            return StepResult(cursor.last_block + 1, cursor.last_block, 0, standby=True)
        if self.flaps.flapping is not None:
            waiting = self.flaps.still_flapping(cursor)
            if waiting is not None:
                return self._backing_off(waiting)
        try:
            result = self._step(cursor)
        except ChainFlapping as exc:
            return self._backing_off(self.flaps.back_off(exc, cursor))
        self.status = FollowerStatus("running")
        return result

    def _backing_off(self, result: StepResult) -> StepResult:
        """A step the flapping guard turned into a wait: the status says why and until when."""
        assert self.flaps.status is not None
        self.status = self.flaps.status
        return result

    def _step(self, cursor: Cursor) -> StepResult:
        assert self.lease is not None
        head = self.rpc.head()
        if cursor.last_block > head:
            # A head below the cursor is usually a lagging node behind a load balancer, not a
            # shorter canonical chain: wait, unless the chain replaced the window's edge (a reorg
            # deeper than the window onto a shorter chain: stop and alert now). A replaced chain
            # inside the window grows past the cursor soon and the hash check below rolls back then.
            self.reorgs.check_shorter_chain(cursor, head)
            return StepResult(cursor.last_block + 1, cursor.last_block, 0)
        tip = self.rpc.get_headers([cursor.last_block])[cursor.last_block]
        if tip.hash != cursor.last_block_hash:
            self._reader_call(lambda reader: reader.drop())
            return self.reorgs.rollback(
                cursor.last_block, head, self.lease, renew_lease=self._renew_lease, ensure_assets=self._ensure_assets
            )
        if cursor.last_block >= head:
            return StepResult(cursor.last_block + 1, cursor.last_block, 0)
        plan, bodies = self._next_range(cursor, head)
        if plan is None:
            return StepResult(cursor.last_block + 1, cursor.last_block, 0)  # the chain moved under us: start over
        self._adapt_step(plan.to_block - plan.from_block + 1, plan.events)
        new_assets = plan.assets - self.poster.known_assets
        if plan.to_block < head and not any(code.startswith("ERC20:") for code in new_assets):
            # read the next range while this one posts; a range that brings a new ERC-20 is posted
            # first (the reader learns which ERC-20s splitters may receive from the ledger's assets)
            next_to = min(head, plan.to_block + self.step_blocks)
            self._reader_call(lambda reader: reader.submit(plan.to_block, plan.to_header.hash, next_to))
        window_entries, checkpoints = self._post(plan, bodies)
        self.state.advance(
            plan.to_header,
            plan.kept,
            window_entries,
            plan.keep_from,
            self.lease,
            checkpoints=checkpoints,
            anchors=plan.anchors,
        )
        return StepResult(plan.from_block, plan.to_block, len(plan.requests))

    def _next_range(self, cursor: Cursor, head: int) -> tuple[Range | None, list[EntryBody] | None]:
        """The range after the cursor: the one the reader process read during the previous step
        (with its entry bodies; its discoveries registered here, the child writes nothing), else
        up to `step_blocks` blocks read inline. None: the chain moved while it was read."""
        taken = self._reader_call(lambda reader: reader.take(cursor.last_block, cursor.last_block_hash))
        if taken is not None:
            plan, discovered, bodies = taken
            if plan is not None and discovered:
                self.state.add_contracts(discovered, replace=True)
            return plan, bodies
        to_block = min(head, cursor.last_block + self.step_blocks)
        return self._read_range(cursor.last_block, cursor.last_block_hash, to_block), None

    def _read_range(self, after_block: int, after_hash: str, to_block: int, *, register: bool = True) -> Range | None:
        """(after_block, to_block] read inline (indexer.ranges.RangeFetcher.read); None when the
        chain changed while it was read."""
        return self.ranges.read(after_block, after_hash, to_block, register=register)

    def _adapt_step(self, blocks: int, events: int) -> None:
        if events > self.max_events_per_step:
            self.step_blocks = max(1, blocks * self.max_events_per_step // events)
        elif blocks >= self.step_blocks and events * 2 <= self.max_events_per_step:
            self.step_blocks = min(self.max_blocks_per_step, self.step_blocks * 2)

    def _post(
        self, plan: Range, bodies: Sequence[EntryBody] | None = None
    ) -> tuple[list[BlockEntry], list[Checkpoint]]:
        """Create the range's assets, then post its entries in ledger batches (indexer.posting).
        Returns the entries of blocks inside the reorg window (kept for rollbacks) and each
        block's checkpoint (its last entry)."""
        self._ensure_assets(plan.assets)
        lease = self.lease
        assert lease is not None
        return self.poster.post(
            plan, bodies, lease, renew_lease=self._renew_lease, note_comeback=self.flaps.note_comeback
        )

    def _ensure_assets(self, codes: set[str]) -> None:
        """The assets a step (or a rollback) posts in, created before its first ledger batch."""
        self.poster.ensure_assets(codes)

    # -------------------------------------------------------------------- reader

    @property
    def reader_pid(self) -> int | None:
        """The reader process's pid (None when reading inline): for resource accounting."""
        return self._reader.pid if self._reader is not None else None

    def _reader_call(self, call: Callable[[RangeReader], T]) -> T | None:
        """`call(reader)`, or None without a reader. A broken reader process costs speed, never
        correctness: it is closed and the follower reads inline from then on."""
        if self._reader is None:
            return None
        try:
            return call(self._reader)
        except ReaderFailed as exc:
            log.warning("chain %s: %s; reading inline from now on", self.chain_id, exc)
            self._reader.close()
            self._reader = None
            return None

    # --------------------------------------------------------------------- lease

    def _lease_wait_status(self, now_s: float) -> FollowerStatus:
        holder = self.state.lease_holder()
        if holder is None:  # released between the two reads
            return FollowerStatus("waiting_for_lease", f"chain {self.chain_id}: the lease is being taken over")
        expires_s = holder.expires_at_us / 1e6
        until = datetime.fromtimestamp(expires_s, tz=UTC)
        return FollowerStatus(
            "waiting_for_lease",
            f"chain {self.chain_id} is leased to {holder.owner} (epoch {holder.epoch}) until "
            f"{until.isoformat(timespec='seconds')} (in {max(0.0, expires_s - now_s):.0f} s); this indexer "
            f"({self.owner}) takes over if that holder stops renewing it (a crashed process's lease runs out "
            "after its TTL)",
            until,
        )

    def _renew_lease(self) -> None:
        """Renew right before each ledger write so a healthy follower keeps the chain. A follower
        that lost it must not post entries of blocks it read before a reorg (their keys differ
        from the successor's): every ledger write also checks the lease inside its own
        transaction (`state.fence` via `post_many(in_transaction=…)`), holding the lease row
        until commit, so no successor can take over between the check and the commit."""
        now_s = self.clock_s()
        if self.lease is not None and now_s - self._renewed_at_s < self.lease_ttl_s * RENEW_AFTER_TTL_SHARE:
            return  # renewed recently: the fence inside the write still guards the commit itself
        lease = self.state.acquire_lease(self.owner, int(now_s * 1e6), int(self.lease_ttl_s * 1e6))
        if lease is None or lease != self.lease:
            raise LeaseLost(f"chain {self.chain_id}: lease of {self.owner} lost before posting")
        self._renewed_at_s = now_s

    # ---------------------------------------------------------------------- run

    def sync(self, *, deadline_s: float | None = None) -> int:
        """Step until the cursor reaches the head seen at the end of a step. Returns entries posted."""
        posted = 0
        started = time.monotonic()
        while True:
            result = self.step()
            posted += result.entries_posted
            cursor = self.state.cursor()
            assert cursor is not None
            if (
                not result.standby
                and result.backing_off is None
                and result.reorg_depth == 0
                and cursor.last_block >= self.rpc.head()
            ):
                return posted
            if deadline_s is not None and time.monotonic() - started > deadline_s:
                raise TimeoutError(
                    f"indexer did not reach the head within {deadline_s}s"
                    + (f" ({result.backing_off})" if result.backing_off else "")
                )
            if result.standby:
                time.sleep(STANDBY_POLL_S)
            elif result.backing_off is not None:
                time.sleep(min(result.retry_in_s, STANDBY_POLL_S * 10))

    def run(
        self,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        poll_s: float = IDLE_POLL_S,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        """Follow until `should_stop()`, pausing (`sleep`) only when caught up, standing by or
        backing off (RPC errors, a flapping chain: bounded exponential; never more than a third
        of the lease TTL at once, so the lease stays renewed)."""
        backoff_s = poll_s
        while not should_stop():
            try:
                result = self.step()
            except TRANSIENT_ERRORS as exc:  # RPC hiccups: retry with backoff; fatal errors propagate
                log.warning("chain %s: RPC error, retrying in %.1fs: %s", self.chain_id, backoff_s, exc)
                self.status = FollowerStatus(
                    "backing_off",
                    f"RPC error, retrying in {backoff_s:.1f} s: {exc}",
                    datetime.fromtimestamp(self.clock_s() + backoff_s, tz=UTC),
                )
                sleep(backoff_s)
                backoff_s = min(MAX_BACKOFF_S, backoff_s * 2)
                continue
            backoff_s = poll_s
            if result.backing_off is not None:
                sleep(max(poll_s, min(result.retry_in_s, self.lease_ttl_s * RENEW_AFTER_TTL_SHARE)))
            elif result.blocks:
                cursor = self.state.cursor()
                log.info(
                    "chain %s: blocks %s-%s, %s entries, cursor %s",
                    self.chain_id,
                    result.from_block,
                    result.to_block,
                    result.entries_posted,
                    cursor.last_block if cursor else None,
                )
            elif result.reorg_depth == 0:
                sleep(poll_s)

    def close(self) -> None:
        """Release the lease so a successor does not wait for it to expire; stop the reader."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self.lease is not None:
            self.state.release_lease(self.lease)
            self.lease = None
