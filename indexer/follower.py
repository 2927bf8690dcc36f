"""Follow one chain into the ledger: discover, fetch, decode, map, post, advance the cursor.

Finality policy (documented choice): entries are posted PROVISIONALLY as soon as a block
is seen, and a block is final once `confirmations` blocks sit on top of it. Consumers who
want only final entries compare an entry's `metadata.block_number` with
`cursor.last_block - confirmations`. The hashes (and entry ids) of the last
`confirmations` blocks are kept; a reorg inside that window is undone in one ledger
transaction: the orphaned blocks' entries reversed, the canonical blocks' entries posted, the
cursor moved (see `_rollback`); a deeper reorg writes an alert and raises ReorgTooDeep: the
follower stops, never silent divergence. A chain that got shorter than the cursor is a lagging
node unless the block at the window's edge (or the newest checkpoint at or below the head) has
another hash: then it is a reorg deeper than the window, raised at once.

A provider flipping between two forks (blocks coming back after their reversal, again and again)
makes the follower back off instead of dying: one `chain_flapping` alert, then bounded exponential
waits until the chain keeps the same block across a wait (`Follower.status` says so meanwhile).

Crash safety: entries are posted first (idempotent keys; each batch checks the lease inside
its transaction), then the cursor moves together with the recorded block hashes, entry ids
and checkpoints in one transaction (the ledger's database). A crash in between replays the
same keys on restart (no duplicates).

Speed: with `reader_process=True` the next range is read, mapped and digested in a child
process (indexer.reader) while the current one is posted.
"""
from __future__ import annotations

import itertools
import logging
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import cached_property
from typing import Any, NoReturn, TypeVar

import httpx
from eth_utils import keccak
from sqlalchemy.engine import Connection

from indexer.alerts import record_alert
from indexer.anchors import AnchorRecord, anchor_records
from indexer.decode import (
    ARTIFACT_OF_KIND,
    ERC20_TRANSFER_TOPIC,
    address_topic,
    decode_erc20_transfer,
    decode_log,
    followed_topics,
)
from indexer.mapping import (
    SPLITTER_TOKEN_TRANSFER,
    ZERO_ADDRESS,
    ChainEvent,
    ContractInfo,
    entries_for,
)
from indexer.reader import RangeReader, ReaderFailed
from indexer.rpc import BlockHeader, RpcClient, RpcError
from indexer.state import BlockEntry, Checkpoint, Cursor, IndexerState, Lease, LeaseLost
from ledger import AssetKind, Entry, EntryBody, EntryRequest, LedgerStore
from ledger.errors import AssetNotFound, EntryNotFound
from ledger.limits import MAX_ENTRIES_PER_BATCH
from ledger.policy import EffectiveTimePolicy
from ledger.scheme import bootstrap_ledger

log = logging.getLogger("kogi.indexer")
T = TypeVar("T")

DEFAULT_CONFIRMATIONS = {
    1: 64,          # Ethereum mainnet: finalized after two epochs (~13 min)
    11155111: 64,   # Sepolia
    10: 400,        # OP Mainnet (2 s blocks): ~L1 finality
    8453: 400,      # Base (2 s blocks)
    42161: 3_200,   # Arbitrum One (0.25 s blocks)
    137: 256,       # Polygon PoS
    31337: 5,       # anvil: instant blocks; reorgs only when a test makes them
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
MAX_REPOSTS = 8
"""How many times blocks may come back after their entries were reversed (a step or rollback
re-posting `~<n>` keys) within FLAP_WINDOW_S before the chain counts as flapping: the follower then
backs off (FLAP_BACKOFF_S doubling up to MAX_FLAP_BACKOFF_S) until the chain settles."""
FLAP_WINDOW_S = 600.0
"""Come-backs older than this are forgotten; so is the backoff level (it starts low again)."""
FLAP_BACKOFF_S = 2.0
MAX_FLAP_BACKOFF_S = 120.0
"""The flapping backoff's bound: the chain is looked at again at least this often."""
MAX_ENTRIES_PER_POST = 10_000
"""Entries per LedgerStore.post_many call (one ledger transaction each): large enough that the
per-transaction cost (fsync, lease fence, head lock) is small, small enough to bound memory."""
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
ERC20_DECIMALS = "0x313ce567"
SELECTOR_REVENUE_TOKEN = "0x" + keccak(text="revenueToken()")[:4].hex()
SELECTOR_STABLECOIN = "0x" + keccak(text="stablecoin()")[:4].hex()



class ReorgTooDeep(RuntimeError):
    """The chain replaced blocks older than the confirmation window: stop and alert."""


class ChainMismatch(RuntimeError):
    """The RPC endpoint serves another chain than the one this follower indexes."""


class ChainFlapping(RuntimeError):
    """Blocks keep coming back after their reversal: the provider flips between forks. Raised
    inside a step before its ledger transaction (or after a replay-safe batch); `step` turns it
    into a backoff, it never leaves the follower."""

    def __init__(self, message: str, block_number: int, block_hash: str) -> None:
        super().__init__(message)
        self.block_number = block_number
        self.block_hash = block_hash


FOLLOWER_STATES = ("starting", "running", "waiting_for_lease", "backing_off", "stopped")


@dataclass(frozen=True)
class FollowerStatus:
    """What the follower is doing, for /health (`EmbeddedIndexer.status`) and logs."""

    state: str
    """One of FOLLOWER_STATES: starting (no step yet), running (following or caught up),
    waiting_for_lease (another owner's lease is valid), backing_off (RPC errors or a flapping
    chain), stopped (EmbeddedIndexer only: the thread ended)."""
    reason: str | None = None
    """Human text: the lease holder and its expiry, the backoff's cause, the stop's error."""
    until: datetime | None = None
    """When the lease expires / the next attempt is due (None when not waiting)."""


@dataclass
class _Flapping:
    """A backoff on a flapping chain: the disputed block and the hash the chain gave it last."""

    block_number: int
    block_hash: str
    until_s: float
    message: str


def _linked(headers: dict[int, BlockHeader], numbers: Sequence[int]) -> bool:
    """Consecutive headers form one chain (a batch answered across a reorg would not)."""
    return all(headers[n].parent_hash == headers[n - 1].hash for n in numbers if n - 1 in headers)


def _generation(request: EntryRequest, generation: int) -> EntryRequest:
    """The request posted anew for the `generation`-th time after its entry was reversed (a block
    that came back): key and external reference `~<generation>`; generation 0 is the request."""
    if generation == 0:
        return request
    external_ref = f"{request.external_ref}~{generation}" if request.external_ref is not None else None
    return replace(request, idempotency_key=f"{request.idempotency_key}~{generation}", external_ref=external_ref)


def default_owner() -> str:
    """Unique per process: a restarted process waits for the old lease to expire unless it is
    given the old owner name (`--owner`), which asserts that the old process is gone."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def default_confirmations(chain_id: int) -> int:
    return DEFAULT_CONFIRMATIONS.get(chain_id, FALLBACK_CONFIRMATIONS)


@dataclass(frozen=True)
class _Range:
    """What one read of (after_block, to_block] produced, ready to post."""

    from_block: int
    to_block: int
    to_header: BlockHeader
    kept: list[BlockHeader]
    """Headers inside the reorg window (their hashes are recorded)."""
    keep_from: int
    requests: list[tuple[EntryRequest, int, str]]
    """(entry request, block number, block hash) in chain order."""
    events: int
    anchors: list[AnchorRecord]
    discovered: list[tuple[ContractInfo, int]] = field(default_factory=list)
    """Contracts the factory created in the range, as the chain describes them now, with their
    block (registered before posting; by a rollback, in its ledger transaction)."""

    @cached_property
    def assets(self) -> set[str]:
        """Asset codes the range's entries touch (read ahead or not, created before posting)."""
        return {leg.asset for request, _, _ in self.requests for leg in request.legs}


@dataclass(frozen=True)
class StepResult:
    from_block: int
    to_block: int
    entries_posted: int
    reorg_depth: int = 0
    standby: bool = False
    """Another follower holds the chain's lease: this one did nothing."""
    backing_off: str | None = None
    """The chain is flapping: nothing was done; why (human text). Call `step` again after
    `retry_in_s` (earlier calls return at once, renewing the lease)."""
    retry_in_s: float = 0.0

    @property
    def blocks(self) -> int:
        return max(0, self.to_block - self.from_block + 1)


class Follower:
    """Mirrors one chain into one ledger. One active follower per chain (locking: see issue 4)."""

    def __init__(
        self,
        store: LedgerStore,
        rpc: RpcClient,
        manifest: dict[str, Any],
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
        self.chain_id = int(manifest["chain_id"])
        self.ledger = ledger
        self.confirmations = default_confirmations(self.chain_id) if confirmations is None else confirmations
        if self.confirmations < 0:
            raise ValueError("confirmations must be >= 0")
        self.max_blocks_per_step = max_blocks_per_step
        self.max_events_per_step = MAX_EVENTS_PER_STEP
        self.step_blocks = min(INITIAL_STEP_BLOCKS, max_blocks_per_step)
        self.max_entries_per_post = max_entries_per_post
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
        self._topics = followed_topics()
        self._known_assets: set[str] = set()
        self._bootstrapped = False
        self.status = FollowerStatus("starting")
        """Updated by every step (and by `run` while it retries RPC errors); read from other threads."""
        self._comebacks: deque[float] = deque()
        """clock_s() of recent steps in which blocks came back after their reversal."""
        self._flapping: _Flapping | None = None
        self._flap_backoff_s = FLAP_BACKOFF_S
        self._last_flap_s: float | None = None

    # ---------------------------------------------------------------- bootstrap

    def bootstrap(self) -> None:
        """Ledger, templates and core contracts; the first cursor (idempotent)."""
        served = self.rpc.chain_id()
        if served != self.chain_id:
            raise ChainMismatch(f"manifest is for chain {self.chain_id} but the RPC serves chain {served}")
        bootstrap_ledger(self.store, self.ledger)
        start_block = int(self.manifest.get("start_block", 0))
        core = [
            (ContractInfo(self.chain_id, entry["address"].lower(), name), int(entry.get("block_number", start_block)))
            for name, entry in self.manifest["contracts"].items()
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
        if self._flapping is not None:
            waiting = self._still_flapping(cursor)
            if waiting is not None:
                return waiting
        try:
            result = self._step(cursor)
        except ChainFlapping as exc:
            return self._back_off(exc, cursor)
        self.status = FollowerStatus("running")
        return result

    def _step(self, cursor: Cursor) -> StepResult:
        assert self.lease is not None
        head = self.rpc.head()
        if cursor.last_block > head:
            # A head below the cursor is usually a lagging node behind a load balancer, not a
            # shorter canonical chain: wait, unless the chain replaced the window's edge (a reorg
            # deeper than the window onto a shorter chain: stop and alert now). A replaced chain
            # inside the window grows past the cursor soon and the hash check below rolls back then.
            self._check_shorter_chain(cursor, head)
            return StepResult(cursor.last_block + 1, cursor.last_block, 0)
        tip = self.rpc.get_headers([cursor.last_block])[cursor.last_block]
        if tip.hash != cursor.last_block_hash:
            return self._rollback(cursor.last_block, head, self.lease)
        if cursor.last_block >= head:
            return StepResult(cursor.last_block + 1, cursor.last_block, 0)
        taken = self._reader_call(lambda reader: reader.take(cursor.last_block, cursor.last_block_hash))
        bodies: list[EntryBody] | None = None
        if taken is not None:  # read by the reader process during the previous step
            plan, discovered, bodies = taken
            if plan is not None and discovered:
                self.state.add_contracts(discovered, replace=True)
        else:
            to_block = min(head, cursor.last_block + self.step_blocks)
            plan = self._read_range(cursor.last_block, cursor.last_block_hash, to_block)
        if plan is None:
            return StepResult(cursor.last_block + 1, cursor.last_block, 0)  # the chain moved under us: start over
        self._adapt_step(plan.to_block - plan.from_block + 1, plan.events)
        if plan.to_block < head and not any(code.startswith("ERC20:") for code in plan.assets - self._known_assets):
            # read the next range while this one posts; a range that brings a new ERC-20 is posted
            # first (the reader learns which ERC-20s splitters may receive from the ledger's assets)
            next_to = min(head, plan.to_block + self.step_blocks)
            self._reader_call(lambda reader: reader.submit(plan.to_block, plan.to_header.hash, next_to))
        window_entries, checkpoints = self._post(plan, bodies)
        self.state.advance(plan.to_header, plan.kept, window_entries, plan.keep_from, self.lease,
                           checkpoints=checkpoints, anchors=plan.anchors)
        return StepResult(plan.from_block, plan.to_block, len(plan.requests))

    def _lease_wait_status(self, now_s: float) -> FollowerStatus:
        holder = self.state.lease_holder()
        if holder is None:  # released between the two reads
            return FollowerStatus("waiting_for_lease", f"chain {self.chain_id}: the lease is being taken over")
        expires_s = holder.expires_at_us / 1e6
        until = datetime.fromtimestamp(expires_s, tz=timezone.utc)
        return FollowerStatus(
            "waiting_for_lease",
            f"chain {self.chain_id} is leased to {holder.owner} (epoch {holder.epoch}) until "
            f"{until.isoformat(timespec='seconds')} (in {max(0.0, expires_s - now_s):.0f} s); this indexer "
            f"({self.owner}) takes over if that holder stops renewing it (a crashed process's lease runs out "
            "after its TTL)", until)

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

    def _read_range(self, after_block: int, after_hash: str, to_block: int, *, register: bool = True) -> _Range | None:
        """Headers, logs and entry requests of (after_block, to_block], or None when the chain
        changed while it was read (nothing is posted then; the caller starts over).

        Contracts are the ones registered up to `after_block` plus those the factory creates in
        the range, described as the chain has them now (a registration above `after_block` is
        left over from an orphaned or abandoned read and is ignored, then replaced). They are
        registered at the end of the read when `register` (before posting), else only returned
        in `discovered` (a rollback registers them in its ledger transaction)."""
        from_block = after_block + 1
        keep_from = max(0, to_block - self.confirmations)
        window = list(range(max(from_block, keep_from), to_block + 1))
        headers = self.rpc.get_headers([from_block, to_block, *window])
        if headers[from_block].parent_hash != after_hash or not _linked(headers, window):
            return None
        contracts = self.state.contracts(up_to_block=after_block)
        events, discovered = self._fetch_events(from_block, to_block, contracts)
        missing = sorted({e[0] for e in events} - set(headers))
        headers.update(self.rpc.get_headers(missing))
        if any(headers[number].hash != block_hash for number, block_hash, _, _ in events) or \
                self.rpc.get_headers([to_block])[to_block].hash != headers[to_block].hash:
            return None  # nothing was registered: the discoveries go with the read
        requests: list[tuple[EntryRequest, int, str]] = []
        anchor_events = []
        for event_tuple in events:
            number, block_hash, contract_address, (raw_log, name, args) = event_tuple
            contract = contracts[contract_address]
            if contract.kind == "anchor":
                anchor_events.append(event_tuple)
            event = ChainEvent(
                chain_id=self.chain_id, address=contract_address, contract_kind=contract.kind, name=name, args=args,
                block_number=number, block_hash=block_hash, block_timestamp_s=headers[number].timestamp_s,
                tx_hash=raw_log["transactionHash"].lower(), log_index=int(raw_log["logIndex"], 16),
            )
            for request in entries_for(event, contract):
                requests.append((request, number, block_hash))
        anchors: list[AnchorRecord] = []
        if anchor_events:
            anchors = anchor_records(self.chain_id, anchor_events)
        if register and discovered:
            self.state.add_contracts(discovered, replace=True)
        return _Range(from_block, to_block, headers[to_block], [headers[n] for n in window], keep_from, requests,
                      len(events), anchors, discovered)

    def _checkpoints(self, posted: Iterable[tuple[int, str, str]]) -> list[Checkpoint]:
        """Each block's last entry, from (block number, block hash, entry id) in posting order."""
        last = {number: (block_hash, entry_id) for number, block_hash, entry_id in posted}
        return [Checkpoint(number, block_hash, self.ledger, entry_id) for number, (block_hash, entry_id) in last.items()]

    def _adapt_step(self, blocks: int, events: int) -> None:
        if events > self.max_events_per_step:
            self.step_blocks = max(1, blocks * self.max_events_per_step // events)
        elif blocks >= self.step_blocks and events * 2 <= self.max_events_per_step:
            self.step_blocks = min(self.max_blocks_per_step, self.step_blocks * 2)

    def _fetch_events(
        self, from_block: int, to_block: int, contracts: dict[str, ContractInfo],
    ) -> tuple[list[tuple[int, str, str, tuple[dict[str, Any], str, dict[str, Any]]]], list[tuple[ContractInfo, int]]]:
        """Decoded followed events in [from_block, to_block] and the contracts discovered there:
        portfolios created in the range are added to `contracts` (not registered: the caller
        does) and their own logs fetched from the creation block on."""
        found: list[tuple[ContractInfo, int]] = []
        addresses = [a for a, c in contracts.items() if c.kind in ARTIFACT_OF_KIND]
        raw = self.rpc.get_logs(from_block, to_block, addresses, [self._topics])
        seen: set[tuple[int, int]] = set()
        decoded: list[tuple[int, str, str, tuple[dict[str, Any], str, dict[str, Any]]]] = []
        pending = list(raw)
        while pending:
            discovered: list[tuple[ContractInfo, int]] = []
            for raw_log in pending:
                position = (int(raw_log["blockNumber"], 16), int(raw_log["logIndex"], 16))
                if position in seen or raw_log.get("removed"):
                    continue
                seen.add(position)
                address = raw_log["address"].lower()
                contract = contracts.get(address)
                if contract is None or contract.kind not in ARTIFACT_OF_KIND:
                    continue
                result = decode_log(contract.kind, raw_log)
                if result is None:
                    continue
                name, args = result
                decoded.append((position[0], raw_log["blockHash"].lower(), address, (raw_log, name, args)))
                if contract.kind == "factory" and name == "PortfolioCreated":
                    discovered.extend(self._portfolio_contracts(args, position[0]))
            pending = []
            if discovered:
                found.extend(discovered)
                for info, _ in discovered:
                    contracts[info.address] = info
                first = min(block for _, block in discovered)
                new = [info.address for info, _ in discovered if info.kind in ARTIFACT_OF_KIND]
                pending = self.rpc.get_logs(first, to_block, new, [self._topics])
        decoded = [item for item in decoded if not self._about_portfolio_token(item, contracts)]
        decoded.extend(self._splitter_token_transfers(from_block, to_block, contracts, decoded, seen))
        decoded.sort(key=lambda item: (item[0], int(item[3][0]["logIndex"], 16)))
        return decoded, found

    splitters_per_log_filter = 100
    """Splitter addresses per OR-list in topic position 2 (providers bound filter sizes)."""

    @staticmethod
    def _about_portfolio_token(item: tuple[int, str, str, tuple[dict[str, Any], str, dict[str, Any]]],
                               contracts: dict[str, ContractInfo]) -> bool:
        """A splitter event moving a followed portfolio token: that token's own Transfer logs
        already mirror both directions (`holder:<chain>:<splitter>`), so the splitter's event
        must not move it a second time (as if it were a foreign ERC-20)."""
        address, (_, name, args) = item[2], item[3]
        if contracts[address].kind != "splitter" or name not in ("PaymentReceived", "PaymentReleased"):
            return False
        token = contracts.get(str(args["token"]).lower())
        return token is not None and token.kind == "token"

    def _splitter_token_transfers(
        self, from_block: int, to_block: int, contracts: dict[str, ContractInfo],
        decoded: Sequence[tuple[int, str, str, tuple[dict[str, Any], str, dict[str, Any]]]], seen: set[tuple[int, int]],
    ) -> list[tuple[int, str, str, tuple[dict[str, Any], str, dict[str, Any]]]]:
        """ERC-20 Transfer logs INTO followed splitters, handed over as events of the splitter
        (mapping.SPLITTER_TOKEN_TRANSFER): a plain transfer leaves no splitter log, so the token's
        own log is the only record; deposit() is caught the same way. No call without splitters."""
        splitters = sorted(a for a, c in contracts.items() if c.kind == "splitter")
        tokens = self._watched_tokens(contracts, decoded) if splitters else []
        found: list[tuple[int, str, str, tuple[dict[str, Any], str, dict[str, Any]]]] = []
        if not tokens:
            return found
        for start in range(0, len(splitters), self.splitters_per_log_filter):
            recipients = [address_topic(a) for a in splitters[start:start + self.splitters_per_log_filter]]
            for raw_log in self.rpc.get_logs(from_block, to_block, tokens, [[ERC20_TRANSFER_TOPIC], None, recipients]):
                position = (int(raw_log["blockNumber"], 16), int(raw_log["logIndex"], 16))
                args = decode_erc20_transfer(raw_log)
                if position in seen or raw_log.get("removed") or args is None or args["to"] not in contracts:
                    continue
                seen.add(position)
                found.append((position[0], raw_log["blockHash"].lower(), args["to"],
                               (raw_log, SPLITTER_TOKEN_TRANSFER, args)))
        return found

    def _watched_tokens(self, contracts: dict[str, ContractInfo],
                        decoded: Sequence[tuple[int, str, str, tuple[dict[str, Any], str, dict[str, Any]]]]) -> list[str]:
        """ERC-20s whose Transfers into splitters are mirrored (documented in MAPPING.md): the Kogi
        contracts' ERC-20s, the ledger's `ERC20:<chain>:*` assets (tokens met before, restarts
        included) and the tokens named by this range's splitter events. Followed portfolio tokens
        are left out: their own Transfer logs are mirrored already."""
        tokens = {c.asset_address for c in contracts.values() if c.asset_address}
        prefix = f"ERC20:{self.chain_id}:"
        tokens |= {a.code[len(prefix):] for a in self.store.list_assets(self.ledger) if a.code.startswith(prefix)}
        tokens |= {str(args["token"]).lower() for _, _, address, (_, name, args) in decoded
                   if contracts[address].kind == "splitter" and name in ("PaymentReceived", "PaymentReleased")}
        return sorted(t.lower() for t in tokens if t.lower() != ZERO_ADDRESS and t.lower() not in contracts)

    def _portfolio_contracts(self, args: dict[str, Any], block: int) -> list[tuple[ContractInfo, int]]:
        portfolio_id = int(args["portfolioId"])
        found: list[tuple[ContractInfo, int]] = []
        token = str(args["token"]).lower()
        found.append((ContractInfo(self.chain_id, token, "token", portfolio_id,
                                   self._address_call(token, SELECTOR_REVENUE_TOKEN, block)), block))
        for kind, key in (("round", "round"), ("splitter", "splitter"), ("rights_token", "rightsToken")):
            address = str(args[key]).lower()
            if address == ZERO_ADDRESS:
                continue
            asset = self._address_call(address, SELECTOR_STABLECOIN, block) if kind == "round" else None
            found.append((ContractInfo(self.chain_id, address, kind, portfolio_id, asset), block))
        return found

    def _address_call(self, to: str, selector: str, block: int) -> str | None:
        result = self.rpc.eth_call(to, selector, block)
        address = "0x" + result[-40:].lower()
        return None if address == ZERO_ADDRESS else address

    # --------------------------------------------------------------------- post

    def _post(self, plan: _Range, bodies: Sequence[EntryBody] | None = None) -> tuple[list[BlockEntry], list[Checkpoint]]:
        """Post the range's entries in ledger batches. Returns the entries of blocks inside the
        reorg window (kept for rollbacks) and each block's checkpoint (its last entry)."""
        requests, keep_from = plan.requests, plan.keep_from
        self._ensure_assets(plan.assets)
        kept: list[BlockEntry] = []
        posted: list[tuple[int, str, str]] = []
        came_back = False
        for start in range(0, len(requests), self.max_entries_per_post):
            chunk = requests[start:start + self.max_entries_per_post]
            self._renew_lease()
            lease = self.lease
            assert lease is not None
            entries = self.store.post_many(self.ledger, [request for request, _, _ in chunk],
                                           in_transaction=lambda conn, _ids: self.state.fence(conn, lease),
                                           bodies=bodies[start:start + self.max_entries_per_post] if bodies else None)
            for offset, (entry, (request, number, block_hash)) in enumerate(zip(entries, chunk)):
                if entry.replayed and self._is_reversed(entry.id):
                    if not came_back:  # one come-back per step, however many entries the blocks hold
                        self._note_comeback(number, block_hash)
                        came_back = True
                    entry = self._repost(request)
                posted.append((number, block_hash, entry.id))
                if number >= keep_from:
                    kept.append(BlockEntry(entry.id, number, block_hash, start + offset))
        return kept, self._checkpoints(posted)

    def _repost(self, request: EntryRequest) -> Entry:
        """A replayed key whose entry was reversed by a rollback means its block came back (the
        chain flipped back, or a node briefly served another fork): the replay would leave the
        block unposted, so post it again under the next free `<key>~<n>`."""
        lease = self.lease
        assert lease is not None
        return self.store.post_many(self.ledger, [self._free_generation(request, set())],
                                    in_transaction=lambda conn, _ids: self.state.fence(conn, lease))[0]

    def _free_generation(self, request: EntryRequest, reversing: set[str]) -> EntryRequest:
        """The request under its first generation whose key is unused, or whose entry is neither
        reversed nor being reversed (`reversing`): posting it then posts or replays the block's entry."""
        for generation in itertools.count():
            candidate = _generation(request, generation)
            try:
                found = self.store.get_entry_by_key(self.ledger, candidate.idempotency_key)
            except EntryNotFound:
                return candidate
            if found.id not in reversing and not self._is_reversed(found.id):
                return candidate
        raise AssertionError("unreachable")  # pragma: no cover - itertools.count() never ends

    def _note_comeback(self, number: int, block_hash: str) -> None:
        """Blocks came back after their reversal in this step. More than MAX_REPOSTS such steps
        within FLAP_WINDOW_S: the chain is flapping (raise ChainFlapping, `step` backs off)."""
        now_s = self.clock_s()
        while self._comebacks and now_s - self._comebacks[0] > FLAP_WINDOW_S:
            self._comebacks.popleft()
        self._comebacks.append(now_s)
        if len(self._comebacks) > MAX_REPOSTS:
            raise ChainFlapping(
                f"chain {self.chain_id}: blocks came back after their reversal {len(self._comebacks)} times in "
                f"{FLAP_WINDOW_S:.0f} s (block {number} {block_hash} the last time): the chain is flapping between "
                "forks (an RPC provider switching between nodes?)", number, block_hash)

    def _is_reversed(self, entry_id: str) -> bool:
        try:
            self.store.get_entry_by_key(self.ledger, f"reversal:{entry_id}")
        except EntryNotFound:
            return False
        return True

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

    def _ensure_assets(self, codes: set[str]) -> None:
        for code in sorted(codes - self._known_assets):
            try:
                self.store.get_asset(self.ledger, code)
            except AssetNotFound:
                self._create_asset(code)
            self._known_assets.add(code)

    def _create_asset(self, code: str) -> None:
        prefix, _, rest = code.partition(":")
        if prefix == "PTK":
            address = rest.split(":", 1)[1]
            self.store.create_asset(self.ledger, code, 18, AssetKind.PORTFOLIO_TOKEN, chain_id=self.chain_id,
                                    contract_address=address)
        elif prefix == "ERC20":
            address = rest.split(":", 1)[1]
            decimals = int(self.rpc.eth_call(address, ERC20_DECIMALS), 16)
            self.store.create_asset(self.ledger, code, decimals, AssetKind.STABLECOIN, chain_id=self.chain_id,
                                    contract_address=address)
        elif prefix == "RGT":
            address = rest.split(":")[1]
            self.store.create_asset(self.ledger, code, 0, AssetKind.RIGHTS_TOKEN, chain_id=self.chain_id,
                                    contract_address=address)
        elif prefix == "ETH":
            self.store.create_asset(self.ledger, code, 18, AssetKind.NATIVE, chain_id=self.chain_id)
        else:  # pragma: no cover - mapping only produces the prefixes above
            raise ValueError(f"cannot create asset {code}")

    # ------------------------------------------------------------------- reorgs

    def _rollback(self, last_block: int, head: int, lease: Lease) -> StepResult:
        """Walk back to the common ancestor; in ONE ledger transaction reverse the orphaned blocks'
        entries (newest first), post the canonical blocks' entries up to the old tip's height and
        move the cursor there. When that does not fit one ledger batch (a window holding more
        than MAX_ENTRIES_PER_BATCH entries) or the chain moves while the canonical blocks are
        read, fall back to reversals + rewind (the last batch with the rewind, each batch
        replay-safe) and let the next steps re-read the canonical blocks."""
        self._reader_call(lambda reader: reader.drop())
        stored = self.state.recent_blocks()
        candidates = sorted((n for n in stored if n <= head), reverse=True)
        chain = self.rpc.get_headers(candidates) if candidates else {}
        ancestor = next((n for n in candidates if chain[n].hash == stored[n]), None)
        if ancestor is None or last_block - ancestor > self.confirmations:
            self._reorg_too_deep(last_block, ancestor, head)
        assert ancestor is not None
        depth = last_block - ancestor
        orphaned = self.state.entries_after(ancestor)  # newest first: the order to undo them
        ids = [item.entry_id for item in orphaned]
        reason = f"reorg on chain {self.chain_id}: block orphaned"
        # read without registering: the contracts created in the orphaned blocks are un-registered
        # (rewind_in) and those of the canonical blocks registered (advance_in) in the swap's
        # transaction; a fallback rewind un-registers them and the next steps register them again
        plan = self._read_range(ancestor, stored[ancestor], min(head, last_block), register=False)
        if plan is not None and len(ids) + len(plan.requests) <= MAX_ENTRIES_PER_BATCH:
            requests = self._fresh_keys(plan.requests, set(ids))
            self._ensure_assets({leg.asset for request, _, _ in requests for leg in request.legs})
            discovered = plan.discovered
            self._renew_lease()

            def swap(conn: Connection, entry_ids: list[str]) -> None:
                posted = [BlockEntry(entry_id, number, block_hash, ordinal) for ordinal, (entry_id, (_, number, block_hash))
                          in enumerate(zip(entry_ids[len(ids):], requests))]
                self.state.rewind_in(conn, ancestor, stored[ancestor], lease)
                self.state.advance_in(conn, plan.to_header, plan.kept, posted, plan.keep_from, lease,
                                      checkpoints=self._checkpoints((b.block_number, b.block_hash, b.entry_id)
                                                                    for b in posted),
                                      anchors=plan.anchors, contracts=discovered)

            if ids or requests:
                self.store.post_many(self.ledger, [request for request, _, _ in requests], reverse=ids,
                                     reverse_reason=reason, in_transaction=swap)
            else:  # blocks without entries on both sides: post_many would not open a transaction
                self.store.db.run_write(lambda conn: swap(conn, []))
            log.warning("chain %s: reorg of depth %s at block %s: %s entries reversed, %s canonical entries posted "
                        "(one transaction)", self.chain_id, depth, ancestor + 1, len(ids), len(requests))
            return StepResult(ancestor + 1, plan.to_block, len(requests), reorg_depth=depth)
        self._renew_lease()
        batches = [ids[i:i + self.max_entries_per_post] for i in range(0, len(ids), self.max_entries_per_post)] or [[]]
        for number, batch in enumerate(batches):
            last = number == len(batches) - 1
            if last and not batch:
                self.state.rewind(ancestor, stored[ancestor], lease)
                break
            self.store.post_many(
                self.ledger, [], reverse=batch, reverse_reason=reason,
                in_transaction=(lambda conn, _ids: self.state.rewind_in(conn, ancestor, stored[ancestor], lease))
                if last else (lambda conn, _ids: self.state.fence(conn, lease)),
            )
        log.warning("chain %s: reorg of depth %s at block %s: %s entries reversed; canonical blocks follow",
                    self.chain_id, depth, ancestor + 1, len(orphaned))
        return StepResult(ancestor + 1, ancestor, 0, reorg_depth=depth)

    def _reorg_too_deep(self, last_block: int, ancestor: int | None, head: int) -> NoReturn:
        """Stop loudly: a CRITICAL log, an alert in the outbox (indexer.alerts), ReorgTooDeep."""
        depth = "beyond the kept window" if ancestor is None else f"of depth {last_block - ancestor}"
        message = (f"chain {self.chain_id}: reorg {depth} exceeds the confirmation window "
                   f"({self.confirmations} blocks) below block {last_block}; indexer stopped, ledger untouched")
        log.critical(message)
        try:
            record_alert(self.store.db, self.chain_id, "reorg_too_deep", message, {
                "last_block": last_block, "ancestor": ancestor, "confirmations": self.confirmations, "head": head})
        except Exception:  # the stop must not turn into another error; the log line above stands
            log.exception("chain %s: the reorg_too_deep alert could not be written to the outbox", self.chain_id)
        raise ReorgTooDeep(message)

    def _fresh_keys(self, requests: Sequence[tuple[EntryRequest, int, str]],
                    reversing: set[str]) -> list[tuple[EntryRequest, int, str]]:
        """Requests whose key belongs to an entry that is (being) reversed get the next free
        `~<n>` generation: the block came back after its entries were undone, and a replay of
        the old key would leave it unposted. Only the reorg path needs this up front (inside one
        transaction there is no second chance); `_post` covers normal steps. A come-back is noted
        (`_note_comeback`) before anything is written."""
        fresh: list[tuple[EntryRequest, int, str]] = []
        came_back: tuple[int, str] | None = None
        for request, number, block_hash in requests:
            candidate = self._free_generation(request, reversing)
            if candidate is not request and came_back is None:
                came_back = (number, block_hash)
            fresh.append((candidate, number, block_hash))
        if came_back is not None:
            self._note_comeback(*came_back)
        return fresh

    def _check_shorter_chain(self, cursor: Cursor, head: int) -> None:
        """The head is below the cursor. A lagging node still has our blocks up to its head; a
        chain whose block at the window's edge (the oldest kept block at or below the head) has
        another hash was reorganised deeper than the window: ReorgTooDeep (alert) now, not when
        the new chain outgrows the cursor. When the head is below every kept block, the newest
        checkpoint at or below the head (a block whose entries the ledger holds) is compared."""
        stored = self.state.recent_blocks()
        below = sorted(n for n in stored if n <= head)
        if below:
            edge = below[0]
            if self.rpc.get_headers([edge])[edge].hash != stored[edge]:
                self._reorg_too_deep(cursor.last_block, None, head)
            return
        checkpoint = self.state.checkpoint_at(head, self.ledger)
        if checkpoint is not None and \
                self.rpc.get_headers([checkpoint.block_number])[checkpoint.block_number].hash != checkpoint.block_hash:
            self._reorg_too_deep(cursor.last_block, None, head)

    def _back_off(self, exc: ChainFlapping, cursor: Cursor) -> StepResult:
        """First sign of a flapping chain (or again after it seemed to settle): one alert in the
        outbox (deduplicated: one open `chain_flapping` alert per chain), then wait."""
        now_s = self.clock_s()
        if self._last_flap_s is None or now_s - self._last_flap_s > FLAP_WINDOW_S:
            self._flap_backoff_s = FLAP_BACKOFF_S
        self._last_flap_s = now_s
        log.warning("%s; backing off", exc)
        try:
            record_alert(self.store.db, self.chain_id, "chain_flapping", str(exc), {
                "block": exc.block_number, "block_hash": exc.block_hash, "comebacks": len(self._comebacks),
                "window_s": FLAP_WINDOW_S}, severity="warning")
        except Exception:  # the backoff must not turn into another error; the log line above stands
            log.exception("chain %s: the chain_flapping alert could not be written to the outbox", self.chain_id)
        self._flapping = _Flapping(exc.block_number, exc.block_hash, now_s, str(exc))
        return self._wait_longer(cursor, now_s)

    def _wait_longer(self, cursor: Cursor, now_s: float) -> StepResult:
        flapping = self._flapping
        assert flapping is not None
        wait_s = self._flap_backoff_s
        self._flap_backoff_s = min(MAX_FLAP_BACKOFF_S, self._flap_backoff_s * 2)
        flapping.until_s = now_s + wait_s
        return self._backing_off(cursor, now_s)

    def _backing_off(self, cursor: Cursor, now_s: float) -> StepResult:
        flapping = self._flapping
        assert flapping is not None
        retry_in_s = max(0.0, flapping.until_s - now_s)
        reason = (f"{flapping.message}; waiting for it to settle: block {flapping.block_number} is looked at "
                  f"again in {retry_in_s:.0f} s")
        self.status = FollowerStatus("backing_off", reason, datetime.fromtimestamp(flapping.until_s, tz=timezone.utc))
        return StepResult(cursor.last_block + 1, cursor.last_block, 0, backing_off=reason, retry_in_s=retry_in_s)

    def _still_flapping(self, cursor: Cursor) -> StepResult | None:
        """While backing off: a backing-off result until the wait is over; then the disputed block
        is read again. The same hash as at the last look: the chain settled (None: step on, with
        the come-back count cleared). Another hash: wait longer (bounded exponential)."""
        flapping = self._flapping
        assert flapping is not None
        now_s = self.clock_s()
        if now_s < flapping.until_s:
            return self._backing_off(cursor, now_s)
        try:
            seen: str | None = self.rpc.get_headers([flapping.block_number])[flapping.block_number].hash
        except RpcError:  # the block is gone (a shorter fork): not settled
            seen = None
        if seen == flapping.block_hash:
            log.warning("chain %s: block %s kept hash %s over the backoff: the chain settled, following it again",
                        self.chain_id, flapping.block_number, seen)
            self._flapping = None
            self._comebacks.clear()
            return None
        flapping.block_hash = seen or ""
        return self._wait_longer(cursor, now_s)

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
            if not result.standby and result.backing_off is None and result.reorg_depth == 0 \
                    and cursor.last_block >= self.rpc.head():
                return posted
            if deadline_s is not None and time.monotonic() - started > deadline_s:
                raise TimeoutError(f"indexer did not reach the head within {deadline_s}s"
                                   + (f" ({result.backing_off})" if result.backing_off else ""))
            if result.standby:
                time.sleep(STANDBY_POLL_S)
            elif result.backing_off is not None:
                time.sleep(min(result.retry_in_s, STANDBY_POLL_S * 10))

    def run(
        self, *, should_stop: Callable[[], bool] = lambda: False, poll_s: float = IDLE_POLL_S,
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
                    "backing_off", f"RPC error, retrying in {backoff_s:.1f} s: {exc}",
                    datetime.fromtimestamp(self.clock_s() + backoff_s, tz=timezone.utc))
                sleep(backoff_s)
                backoff_s = min(MAX_BACKOFF_S, backoff_s * 2)
                continue
            backoff_s = poll_s
            if result.backing_off is not None:
                sleep(max(poll_s, min(result.retry_in_s, self.lease_ttl_s * RENEW_AFTER_TTL_SHARE)))
            elif result.blocks:
                cursor = self.state.cursor()
                log.info("chain %s: blocks %s-%s, %s entries, cursor %s", self.chain_id, result.from_block,
                         result.to_block, result.entries_posted, cursor.last_block if cursor else None)
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
