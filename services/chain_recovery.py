"""Recover from a lost chain (`kogi chain recover`): keep the ledger, start a fresh chain.

The use case behind the command (api/cli/chain.py parses, shows `plan_recovery`'s plan, asks, calls
`carry_out_recovery` and prints). `plan_recovery` reads what would be reversed and refuses when the
chain is not lost; `carry_out_recovery` does steps 1-3 below.

When the embedded anvil's state is gone (deleted, or every copy corrupt) or older than the ledger,
start-up refuses (api/embedded_chain.py: MirrorMismatch, or the corrupt state file). Journal
entries are immutable (append-only, enforced by database triggers), so the ledger is corrected,
never cut:

1. Every entry the indexer mirrored from the lost chain is REVERSED, newest first, exactly as the
   indexer undoes the orphaned blocks of a reorg (indexer/follower.py `_rollback`: `post_many(
   reverse=…)` in batches fenced by the chain's lease, the indexer's state reset in the last
   batch's transaction). Every indexed block of the lost chain counts as orphaned. The indexer
   keeps only the reorg window's entry ids (`indexer_block_entries`), so older mirrored entries are
   found in the journal by what the indexer writes on each of them: the key and external reference
   `<chain id>:<tx hash>:<log index>…@<block hash>` and `metadata.chain_id`. Entries reversed before
   (a reorg) and reversals themselves are skipped, so a second run reverses nothing twice.
   Off-chain entries (posted through the API) are not touched.
2. The indexer's state for the chain is reset: cursor, recent blocks, reorg-window entries,
   checkpoints, anchors and contract registrations (the lease is released, its epoch kept).
3. Embedded mode: the state file's copies (`.json`, `.exit`, `.prev`) and the chain's deployment
   manifest are renamed `….lost-<UTC time>` (kept for inspection), so the next `kogi serve` starts
   a fresh anvil, deploys the core and mirrors the new chain from block 0.

Refused while a `kogi serve` runs on the same state (its lock), while a live indexer holds the
chain's lease, and when the chain answers at its RPC URL with the block the ledger mirrors (it is
not lost).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import and_, delete, exists, or_, select
from sqlalchemy.engine import Connection

from ledger.database import Database

if TYPE_CHECKING:
    from indexer.state import IndexerState, Lease

RECOVER_OWNER = "kogi-chain-recover"
ZERO_HASH = "0x" + "00" * 32
BATCH_ENTRIES = 10_000
"""Reversals per ledger transaction (the follower's MAX_ENTRIES_PER_POST; at most MAX_ENTRIES_PER_BATCH)."""
LEASE_TTL_S = 300.0


class RecoveryRefused(RuntimeError):
    """Recovery would be wrong or unsafe now; the message says why and what to do."""


class ChainNotLost(RecoveryRefused):
    """The chain still answers with the block the ledger mirrors: there is nothing to recover."""


@dataclass
class RecoveryReport:
    chain_id: int
    cursor: tuple[int, str] | None
    reversed: dict[str, int] = field(default_factory=dict)
    """Ledger code -> entries reversed now."""
    set_aside: list[tuple[Path, Path]] = field(default_factory=list)

    @property
    def total_reversed(self) -> int:
        return sum(self.reversed.values())


@dataclass(frozen=True)
class RecoveryPlan:
    """What a recovery would do, for the user to confirm first: the mirror's cursor, the standing
    mirrored entries per ledger (`pending`), and the chain files to set aside (embedded mode only)."""

    chain_id: int
    cursor: tuple[int, str] | None
    """(last block, its hash) the ledger mirrors; None when the indexer never got that far."""
    pending: dict[str, list[str]]
    """Ledger code -> ids of the mirrored entries that would be reversed (`mirrored_entries`)."""
    state_file: Path | None
    manifest: Path | None

    @property
    def entry_count(self) -> int:
        return sum(len(ids) for ids in self.pending.values())


def plan_recovery(
    database: Database, chain_id: int, rpc_url: str, *, state_file: Path | None = None, manifest: Path | None = None
) -> RecoveryPlan:
    """What recovering `chain_id` would reverse and set aside (`state_file`, `manifest`: the embedded
    chain's files, None when no anvil is started here). Raises ChainNotLost when the chain at
    `rpc_url` still has the mirrored block, and SQLAlchemyError when the indexer's tables cannot be
    read (an unmigrated database)."""
    from indexer.state import IndexerState

    row = IndexerState(database, chain_id).cursor()
    pending = mirrored_entries(database, chain_id)
    cursor = None if row is None else (row.last_block, row.last_block_hash)
    if cursor is not None and chain_still_mirrored(rpc_url, cursor, chain_id):
        raise ChainNotLost(
            f"chain {chain_id} at {rpc_url} still has block {cursor[0]} as the ledger mirrors it: "
            "it is not lost, nothing to recover"
        )
    return RecoveryPlan(chain_id, cursor, pending, state_file, manifest)


def carry_out_recovery(database: Database, plan: RecoveryPlan) -> RecoveryReport:
    """Reverse the mirrored entries and reset the indexer's state (`recover_chain`), then set the
    plan's chain files aside; the report lists both."""
    report = recover_chain(database, plan.chain_id)
    report.set_aside.extend(set_aside_chain_files(plan.state_file, plan.manifest))
    return report


def mirrored_entries(database: Database, chain_id: int) -> dict[str, list[str]]:
    """Ledger code -> ids of the entries mirrored from `chain_id` that still stand (not reversals,
    not reversed yet), newest first: the order in which to reverse them."""
    from indexer.state import IndexerState
    from ledger.schema import entries_t as entries
    from ledger.schema import ledgers_t as ledgers
    from ledger.schema import seals_t as seals

    reversal = entries.alias("reversal")
    window = [item.entry_id for item in IndexerState(database, chain_id).entries_after(-1)]
    by_key = and_(
        entries.c.idempotency_key.like(f"{chain_id}:0x%"), entries.c.external_ref == entries.c.idempotency_key
    )
    query = (
        select(entries.c.id, entries.c.metadata_json, ledgers.c.code, entries.c.idempotency_key)
        .select_from(
            entries.join(ledgers, ledgers.c.id == entries.c.ledger_id).join(
                seals, and_(seals.c.ledger_id == entries.c.ledger_id, seals.c.entry_id == entries.c.id)
            )
        )
        .where(
            or_(by_key, entries.c.id.in_(window)) if window else by_key,
            entries.c.reverses_entry_id.is_(None),
            ~exists().where(reversal.c.ledger_id == entries.c.ledger_id, reversal.c.reverses_entry_id == entries.c.id),
        )
        .order_by(ledgers.c.code, seals.c.sequence.desc())
    )
    found: dict[str, list[str]] = {}
    in_window = set(window)
    with database.read() as conn:
        for row in conn.execute(query):
            if row.id not in in_window and not _mirrored(row.metadata_json, chain_id, row.idempotency_key):
                continue
            found.setdefault(row.code, []).append(row.id)
    return found


def _mirrored(metadata_json: str, chain_id: int, key: str) -> bool:
    """The indexer's metadata on every entry it posts (indexer.mapping `_entry`)."""
    try:
        metadata = json.loads(metadata_json or "{}")
    except ValueError:
        return False
    block_hash = metadata.get("block_hash") if isinstance(metadata, dict) else None
    return (
        isinstance(metadata, dict)
        and metadata.get("chain_id") == chain_id
        and isinstance(block_hash, str)
        and f"@{block_hash[2:14]}" in key
    )


def recover_chain(
    database: Database,
    chain_id: int,
    *,
    now_s: Callable[[], float] = time.time,
    on_batch: Callable[[str, int], None] | None = None,
) -> RecoveryReport:
    """Reverse the entries mirrored from the lost chain and reset the indexer's state for it (see the
    module docstring). Safe to run again after a crash: replayed reversals are idempotent."""
    from indexer.schema import ContractRow, CursorRow, table_of
    from indexer.state import IndexerState
    from ledger.chart import platform_store

    state = IndexerState(database, chain_id)
    cursor = state.cursor()
    report = RecoveryReport(chain_id, None if cursor is None else (cursor.last_block, cursor.last_block_hash))
    owner = f"{RECOVER_OWNER}@{socket.gethostname()}"  # stable: a re-run after a crash takes its own lease back

    def lease() -> Lease:
        held = state.acquire_lease(owner, int(now_s() * 1e6), int(LEASE_TTL_S * 1e6))
        if held is None:
            raise RecoveryRefused(_lease_busy(state, now_s))
        return held

    current = lease()
    store = platform_store(database)
    reason = f"chain {chain_id} lost: mirrored from a block of the lost chain (kogi chain recover)"

    def reset(conn: Connection) -> None:
        state.rewind_in(conn, -1, ZERO_HASH, current)  # fenced; blocks, window entries, checkpoints, anchors
        for table in (table_of(ContractRow), table_of(CursorRow)):
            conn.execute(delete(table).where(table.c.chain_id == chain_id))

    batches = [
        (ledger, ids[start : start + BATCH_ENTRIES])
        for ledger, ids in sorted(mirrored_entries(database, chain_id).items())
        for start in range(0, len(ids), BATCH_ENTRIES)
    ]
    for number, (ledger, batch) in enumerate(batches):
        current = lease()
        last = number == len(batches) - 1
        store.post_many(
            ledger,
            [],
            reverse=batch,
            reverse_reason=reason,
            in_transaction=(lambda conn, _ids: reset(conn)) if last else _fenced(state, current),
        )
        report.reversed[ledger] = report.reversed.get(ledger, 0) + len(batch)
        if on_batch is not None:
            on_batch(ledger, len(batch))
    if not batches:
        database.run_write(reset)
    state.release_lease(current)
    return report


def _fenced(state: IndexerState, lease: Lease) -> Callable[[Connection, list[str]], None]:
    """A batch's in-transaction check that the recovery still holds the chain's lease (a follower that
    took the chain over in between makes the batch roll back)."""

    def check(conn: Connection, _ids: list[str]) -> None:
        state.fence(conn, lease)

    return check


def _lease_busy(state: IndexerState, now_s: Callable[[], float]) -> str:
    """Why the lease could not be taken: who holds it and for how long (the user waits or stops it)."""
    from indexer.schema import LeaseRow, table_of

    table = table_of(LeaseRow)
    with state.db.read() as conn:
        row = conn.execute(select(table).where(table.c.chain_id == state.chain_id)).first()
    left = "" if row is None else f" for another {max(0, int(row.expires_at_us / 1e6 - now_s())) + 1} s"
    who = "" if row is None else f" ({row.owner})"
    return (
        f"an indexer holds chain {state.chain_id}'s lease{who}{left}: a `kogi serve` or "
        "`kogi indexer run` follows this chain, or one was killed less than its lease ago; stop it, or retry "
        "once the lease has expired"
    )


def set_aside_chain_files(state_file: Path | None, manifest: Path | None) -> list[tuple[Path, Path]]:
    """Rename the state file's copies and the manifest to `….lost-<time>`; returns (old, new) pairs."""
    from contracts.anvil import set_aside, state_copies

    moved: list[tuple[Path, Path]] = []
    candidates = list(state_copies(state_file)) if state_file is not None else []
    if manifest is not None:
        candidates.append(manifest)
    for path in candidates:
        if path.exists():
            moved.append((path, set_aside(path, "lost")))
    return moved


def chain_still_mirrored(rpc_url: str, cursor: tuple[int, str] | None, chain_id: int) -> bool:
    """The chain answers at `rpc_url` with the cursor's block: it is not lost (best effort, short timeout)."""
    if cursor is None:
        return False
    import requests

    def call(method: str, params: list[object]) -> object:
        response = requests.post(
            rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=3
        )
        return response.json().get("result")

    try:
        if int(str(call("eth_chainId", [])), 16) != chain_id:
            return False
        block = call("eth_getBlockByNumber", [hex(cursor[0]), False])
    except (requests.RequestException, ValueError, TypeError, AttributeError):
        return False
    return isinstance(block, dict) and str(block.get("hash", "")).lower() == cursor[1].lower()
