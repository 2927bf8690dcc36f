"""Follow one chain into the ledger: discover, fetch, decode, map, post, advance the cursor.

Finality policy (documented choice): entries are posted PROVISIONALLY as soon as a block
is seen, and a block is final once `confirmations` blocks sit on top of it. Consumers who
want only final entries compare an entry's `metadata.block_number` with
`cursor.last_block - confirmations`. The hashes (and entry ids) of the last
`confirmations` blocks are kept; a reorg inside that window is undone in one ledger
transaction: the orphaned blocks' entries reversed, the canonical blocks' entries posted, the
cursor moved (see `_rollback`); a deeper reorg writes an alert and raises ReorgTooDeep: the
follower stops, never silent divergence.

Crash safety: entries are posted first (idempotent keys; each batch checks the lease inside
its transaction), then the cursor moves together with the recorded block hashes, entry ids
and checkpoints in one transaction (the ledger's database). A crash in between replays the
same keys on restart (no duplicates).

Speed: with `reader_process=True` the next range is read, mapped and digested in a child
process (indexer.reader) while the current one is posted.
"""
from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
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
from indexer.state import BlockEntry, Checkpoint, IndexerState, Lease, LeaseLost
from ledger import AssetKind, Entry, EntryBody, EntryRequest, LedgerStore
from ledger.errors import AssetNotFound, EntryNotFound
from ledger.limits import MAX_ENTRIES_PER_BATCH
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
"""How often one log may come back after being reversed before the follower gives up (flapping)."""
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
    created: dict[str, int]
    """Contracts created by the factory in the range → their block (re-registered by a rollback)."""

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
        self.store = store
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
            return StepResult(cursor.last_block + 1, cursor.last_block, 0, standby=True)
        head = self.rpc.head()
        if cursor.last_block > head:
            # A head below the cursor is usually a lagging node behind a load balancer, not a
            # shorter canonical chain: wait. If the chain really was replaced, it grows past the
            # cursor soon and the hash check below rolls back then.
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
                self.state.add_contracts(discovered)
        else:
            to_block = min(head, cursor.last_block + self.step_blocks)
            plan = self._read_range(cursor.last_block, cursor.last_block_hash, to_block, cursor_block=cursor.last_block)
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

    def _read_range(self, after_block: int, after_hash: str, to_block: int, *, cursor_block: int) -> _Range | None:
        """Headers, logs and entry requests of (after_block, to_block], or None when the chain
        changed while it was read (nothing is posted then; the caller starts over)."""
        from_block = after_block + 1
        keep_from = max(0, to_block - self.confirmations)
        window = list(range(max(from_block, keep_from), to_block + 1))
        headers = self.rpc.get_headers([from_block, to_block, *window])
        if headers[from_block].parent_hash != after_hash or not _linked(headers, window):
            return None
        events = self._fetch_events(from_block, to_block)
        missing = sorted({e[0] for e in events} - set(headers))
        headers.update(self.rpc.get_headers(missing))
        if any(headers[number].hash != block_hash for number, block_hash, _, _ in events) or \
                self.rpc.get_headers([to_block])[to_block].hash != headers[to_block].hash:
            # only discoveries above the cursor are dropped: those at or below it belong to blocks
            # the ledger already holds (a rollback reads below the cursor)
            self.state.forget_contracts_after(cursor_block)
            return None
        contracts = self.state.contracts()
        requests: list[tuple[EntryRequest, int, str]] = []
        anchor_events = []
        created: dict[str, int] = {}
        for event_tuple in events:
            number, block_hash, contract_address, (raw_log, name, args) = event_tuple
            contract = contracts[contract_address]
            if contract.kind == "anchor":
                anchor_events.append(event_tuple)
            elif contract.kind == "factory" and name == "PortfolioCreated":
                for key in ("token", "round", "splitter", "rightsToken"):
                    created[str(args[key]).lower()] = number
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
        return _Range(from_block, to_block, headers[to_block], [headers[n] for n in window], keep_from, requests,
                      len(events), anchors, created)

    def _checkpoints(self, posted: Iterable[tuple[int, str, str]]) -> list[Checkpoint]:
        """Each block's last entry, from (block number, block hash, entry id) in posting order."""
        last = {number: (block_hash, entry_id) for number, block_hash, entry_id in posted}
        return [Checkpoint(number, block_hash, self.ledger, entry_id) for number, (block_hash, entry_id) in last.items()]

    def _adapt_step(self, blocks: int, events: int) -> None:
        if events > self.max_events_per_step:
            self.step_blocks = max(1, blocks * self.max_events_per_step // events)
        elif blocks >= self.step_blocks and events * 2 <= self.max_events_per_step:
            self.step_blocks = min(self.max_blocks_per_step, self.step_blocks * 2)

    def _fetch_events(self, from_block: int, to_block: int) -> list[tuple[int, str, str, tuple[dict[str, Any], str, dict[str, Any]]]]:
        """Decoded followed events in [from_block, to_block]; portfolios created in the range are
        registered and their own logs fetched from the creation block on."""
        contracts = self.state.contracts()
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
                self.state.add_contracts(discovered)
                for info, _ in discovered:
                    contracts[info.address] = info
                first = min(block for _, block in discovered)
                new = [info.address for info, _ in discovered if info.kind in ARTIFACT_OF_KIND]
                pending = self.rpc.get_logs(first, to_block, new, [self._topics])
        decoded = [item for item in decoded if not self._about_portfolio_token(item, contracts)]
        decoded.extend(self._splitter_token_transfers(from_block, to_block, contracts, decoded, seen))
        decoded.sort(key=lambda item: (item[0], int(item[3][0]["logIndex"], 16)))
        return decoded

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
        for start in range(0, len(requests), self.max_entries_per_post):
            chunk = requests[start:start + self.max_entries_per_post]
            self._renew_lease()
            lease = self.lease
            assert lease is not None
            entries = self.store.post_many(self.ledger, [request for request, _, _ in chunk],
                                           in_transaction=lambda conn, _ids: self.state.fence(conn, lease),
                                           bodies=bodies[start:start + self.max_entries_per_post] if bodies else None)
            for offset, (entry, (request, number, block_hash)) in enumerate(zip(entries, chunk)):
                if entry.replayed:
                    entry = self._repost_if_reversed(request, entry)
                posted.append((number, block_hash, entry.id))
                if number >= keep_from:
                    kept.append(BlockEntry(entry.id, number, block_hash, start + offset))
        return kept, self._checkpoints(posted)

    def _repost_if_reversed(self, request: EntryRequest, entry: Entry) -> Entry:
        """A replayed key whose entry was reversed by a rollback means its block came back (the
        chain flipped back, or a node briefly served another fork): the replay would leave the
        block unposted, so post it again under `<key>~<n>`."""
        for generation in range(1, MAX_REPOSTS + 1):
            if not self._is_reversed(entry.id):
                return entry
            lease = self.lease
            assert lease is not None
            entry = self.store.post_many(self.ledger, [_generation(request, generation)],
                                         in_transaction=lambda conn, _ids: self.state.fence(conn, lease))[0]
        if self._is_reversed(entry.id):
            raise RuntimeError(f"{request.idempotency_key}: reversed {MAX_REPOSTS} times; the chain is flapping")
        return entry

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
        plan = self._read_range(ancestor, stored[ancestor], min(head, last_block), cursor_block=last_block)
        if plan is not None and len(ids) + len(plan.requests) <= MAX_ENTRIES_PER_BATCH:
            requests = self._fresh_keys(plan.requests, set(ids))
            self._ensure_assets({leg.asset for request, _, _ in requests for leg in request.legs})
            discovered = [(info, plan.created[address]) for address, info in self.state.contracts().items()
                          if address in plan.created]
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
        transaction there is no second chance); `_repost_if_reversed` covers normal steps."""
        fresh: list[tuple[EntryRequest, int, str]] = []
        for request, number, block_hash in requests:
            for generation in range(MAX_REPOSTS + 1):
                candidate = _generation(request, generation)
                try:
                    found = self.store.get_entry_by_key(self.ledger, candidate.idempotency_key)
                except EntryNotFound:
                    break
                if found.id not in reversing and not self._is_reversed(found.id):
                    break
            else:
                raise RuntimeError(f"{request.idempotency_key}: reversed {MAX_REPOSTS} times; the chain is flapping")
            fresh.append((candidate, number, block_hash))
        return fresh

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
            if not result.standby and result.reorg_depth == 0 and cursor.last_block >= self.rpc.head():
                return posted
            if deadline_s is not None and time.monotonic() - started > deadline_s:
                raise TimeoutError(f"indexer did not reach the head within {deadline_s}s")
            if result.standby:
                time.sleep(STANDBY_POLL_S)

    def run(
        self, *, should_stop: Callable[[], bool] = lambda: False, poll_s: float = IDLE_POLL_S,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        """Follow until `should_stop()`, pausing (`sleep`) only when caught up or standing by."""
        backoff_s = poll_s
        while not should_stop():
            try:
                result = self.step()
            except TRANSIENT_ERRORS as exc:  # RPC hiccups: retry with backoff; fatal errors propagate
                log.warning("chain %s: RPC error, retrying in %.1fs: %s", self.chain_id, backoff_s, exc)
                sleep(backoff_s)
                backoff_s = min(MAX_BACKOFF_S, backoff_s * 2)
                continue
            backoff_s = poll_s
            if result.blocks:
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
