"""Post a range's entry requests to the ledger in batches, each fenced by the chain's lease inside
its own transaction, creating the assets they touch first.

Apart from the follower because the reorg handling (indexer.reorg) posts too: a rollback needs the
same assets, the same `~<n>` key generations for blocks that came back after their reversal, and
the same per-block checkpoints, inside its one ledger transaction.

Key generations: a block whose entries a rollback reversed may come back (the chain flipped back,
or a node briefly served another fork). Replaying its original idempotency key would return the
reversed entry and leave the block unposted, so it is posted under the first free `<key>~<n>`
(external reference `<ref>~<n>`); generation 0 is the request itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from indexer.ranges import Range
from indexer.rpc import RpcClient
from indexer.state import BlockEntry, Checkpoint, IndexerState, Lease
from ledger import AssetKind, Entry, EntryBody, EntryRequest, LedgerStore
from ledger.errors import AssetNotFound, EntryNotFound

MAX_ENTRIES_PER_POST = 10_000
"""Entries per LedgerStore.post_many call (one ledger transaction each): large enough that the
per-transaction cost (fsync, lease fence, head lock) is small, small enough to bound memory."""
ERC20_DECIMALS = "0x313ce567"


def generation(request: EntryRequest, number: int) -> EntryRequest:
    """The request posted anew for the `number`-th time after its entry was reversed (a block
    that came back): key and external reference `~<number>`; generation 0 is the request."""
    if number == 0:
        return request
    external_ref = f"{request.external_ref}~{number}" if request.external_ref is not None else None
    return replace(request, idempotency_key=f"{request.idempotency_key}~{number}", external_ref=external_ref)


class LedgerPoster:
    """Writes one chain's entries into one ledger (the follower's only way into the ledger, with
    the rollback's transaction in indexer.reorg)."""

    def __init__(
        self,
        store: LedgerStore,
        state: IndexerState,
        rpc: RpcClient,
        *,
        chain_id: int,
        ledger: str,
        max_entries_per_post: int = MAX_ENTRIES_PER_POST,
    ) -> None:
        self.store = store
        self.state = state
        self.rpc = rpc
        """Only for an ERC-20's decimals when its asset is created."""
        self.chain_id = chain_id
        self.ledger = ledger
        self.max_entries_per_post = max_entries_per_post
        self.known_assets: set[str] = set()
        """Asset codes known to exist in the ledger (looked up or created once per follower)."""

    # ------------------------------------------------------------------- assets

    def ensure_assets(self, codes: set[str]) -> None:
        """Create the assets among `codes` that the ledger does not have yet (before posting)."""
        for code in sorted(codes - self.known_assets):
            try:
                self.store.get_asset(self.ledger, code)
            except AssetNotFound:
                self._create_asset(code)
            self.known_assets.add(code)

    def _create_asset(self, code: str) -> None:
        prefix, _, rest = code.partition(":")
        if prefix == "PTK":
            address = rest.split(":", 1)[1]
            self.store.create_asset(
                self.ledger, code, 18, AssetKind.PORTFOLIO_TOKEN, chain_id=self.chain_id, contract_address=address
            )
        elif prefix == "ERC20":
            address = rest.split(":", 1)[1]
            decimals = int(self.rpc.eth_call(address, ERC20_DECIMALS), 16)
            self.store.create_asset(
                self.ledger, code, decimals, AssetKind.STABLECOIN, chain_id=self.chain_id, contract_address=address
            )
        elif prefix == "RGT":
            address = rest.split(":")[1]
            self.store.create_asset(
                self.ledger, code, 0, AssetKind.RIGHTS_TOKEN, chain_id=self.chain_id, contract_address=address
            )
        elif prefix == "ETH":
            self.store.create_asset(self.ledger, code, 18, AssetKind.NATIVE, chain_id=self.chain_id)
        else:  # pragma: no cover - mapping only produces the prefixes above
            raise ValueError(f"cannot create asset {code}")

    # -------------------------------------------------------------------- post

    def post(
        self,
        plan: Range,
        bodies: Sequence[EntryBody] | None,
        lease: Lease,
        *,
        renew_lease: Callable[[], None],
        note_comeback: Callable[[int, str], None],
    ) -> tuple[list[BlockEntry], list[Checkpoint]]:
        """Post the range's entries in ledger batches (its assets must exist). Returns the entries
        of blocks inside the reorg window (kept for rollbacks) and each block's checkpoint (its last
        entry). `renew_lease` runs before every batch (it raises once the lease is lost);
        `note_comeback` once per call when blocks came back after their reversal (it raises
        ChainFlapping when that happens too often)."""
        requests, keep_from = plan.requests, plan.keep_from
        kept: list[BlockEntry] = []
        posted: list[tuple[int, str, str]] = []
        came_back = False
        for start in range(0, len(requests), self.max_entries_per_post):
            chunk = requests[start : start + self.max_entries_per_post]
            renew_lease()
            entries = self.store.post_many(
                self.ledger,
                [request for request, _, _ in chunk],
                in_transaction=lambda conn, _ids: self.state.fence(conn, lease),
                bodies=bodies[start : start + self.max_entries_per_post] if bodies else None,
            )
            for offset, (entry, (request, number, block_hash)) in enumerate(zip(entries, chunk, strict=False)):
                if entry.replayed and self.is_reversed(entry.id):
                    if not came_back:  # one come-back per step, however many entries the blocks hold
                        note_comeback(number, block_hash)
                        came_back = True
                    entry = self._repost(request, lease)
                posted.append((number, block_hash, entry.id))
                if number >= keep_from:
                    kept.append(BlockEntry(entry.id, number, block_hash, start + offset))
        return kept, self.checkpoints(posted)

    def _repost(self, request: EntryRequest, lease: Lease) -> Entry:
        """A replayed key whose entry was reversed by a rollback means its block came back (the
        chain flipped back, or a node briefly served another fork): the replay would leave the
        block unposted, so post it again under the next free `<key>~<n>`."""
        return self.store.post_many(
            self.ledger,
            [self.free_generation(request, set())],
            in_transaction=lambda conn, _ids: self.state.fence(conn, lease),
        )[0]

    def free_generation(self, request: EntryRequest, reversing: set[str]) -> EntryRequest:
        """The request under its first generation whose key is unused, or whose entry is neither
        reversed nor being reversed (`reversing`): posting it then posts or replays the block's entry."""
        for number in itertools.count():
            candidate = generation(request, number)
            try:
                found = self.store.get_entry_by_key(self.ledger, candidate.idempotency_key)
            except EntryNotFound:
                return candidate
            if found.id not in reversing and not self.is_reversed(found.id):
                return candidate
        raise AssertionError("unreachable")  # pragma: no cover - itertools.count() never ends

    def is_reversed(self, entry_id: str) -> bool:
        try:
            self.store.get_entry_by_key(self.ledger, f"reversal:{entry_id}")
        except EntryNotFound:
            return False
        return True

    def checkpoints(self, posted: Iterable[tuple[int, str, str]]) -> list[Checkpoint]:
        """Each block's last entry, from (block number, block hash, entry id) in posting order."""
        last = {number: (block_hash, entry_id) for number, block_hash, entry_id in posted}
        return [
            Checkpoint(number, block_hash, self.ledger, entry_id) for number, (block_hash, entry_id) in last.items()
        ]
