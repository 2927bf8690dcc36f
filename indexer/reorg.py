"""Reorgs: undo orphaned blocks, stop on the ones that cannot be undone, back off from a flapping chain.

Apart from the follower's step loop because this is the part of the indexer that rewrites what it
wrote, and it reads best on its own:

- `Reorgs.rollback`: a reorg inside the confirmation window is undone in ONE ledger transaction:
  the orphaned blocks' entries reversed (newest first), the canonical blocks' entries posted, the
  contracts discovered in the orphaned blocks un-registered and the canonical ones registered, the
  cursor moved. When that does not fit one ledger batch (or the chain moves while the canonical
  blocks are read) it falls back to reversals + rewind, each batch replay-safe.
- `Reorgs.too_deep`: a reorg deeper than the window writes a critical alert (indexer.alerts) and
  raises ReorgTooDeep: the follower stops, never silent divergence.
- `Reorgs.check_shorter_chain`: a head below the cursor is a lagging node unless the block at the
  window's edge (or the newest checkpoint at or below the head) has another hash: then it is a
  reorg deeper than the window, raised at once.
- `FlapGuard`: blocks coming back after their reversal again and again (a provider flipping
  between forks) make the follower back off instead of dying: one `chain_flapping` alert, then
  bounded exponential waits until the chain keeps the same block across a wait.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn

from sqlalchemy.engine import Connection

from indexer.alerts import record_alert
from indexer.posting import LedgerPoster
from indexer.ranges import PlacedRequest, Range, RangeFetcher
from indexer.rpc import RpcClient, RpcError
from indexer.state import BlockEntry, Cursor, IndexerState, Lease
from indexer.status import FollowerStatus, StepResult
from ledger import LedgerStore
from ledger.limits import MAX_ENTRIES_PER_BATCH

log = logging.getLogger("kogi.indexer")

MAX_REPOSTS = 8
"""How many times blocks may come back after their entries were reversed (a step or rollback
re-posting `~<n>` keys) within FLAP_WINDOW_S before the chain counts as flapping: the follower then
backs off (FLAP_BACKOFF_S doubling up to MAX_FLAP_BACKOFF_S) until the chain settles."""
FLAP_WINDOW_S = 600.0
"""Come-backs older than this are forgotten; so is the backoff level (it starts low again)."""
FLAP_BACKOFF_S = 2.0
MAX_FLAP_BACKOFF_S = 120.0
"""The flapping backoff's bound: the chain is looked at again at least this often."""


class ReorgTooDeep(RuntimeError):
    """The chain replaced blocks older than the confirmation window: stop and alert."""


class ChainFlapping(RuntimeError):
    """Blocks keep coming back after their reversal: the provider flips between forks. Raised
    inside a step before its ledger transaction (or after a replay-safe batch); `step` turns it
    into a backoff, it never leaves the follower."""

    def __init__(self, message: str, block_number: int, block_hash: str) -> None:
        super().__init__(message)
        self.block_number = block_number
        self.block_hash = block_hash


# --------------------------------------------------------------------------- flapping


@dataclass
class Flapping:
    """A backoff on a flapping chain: the disputed block and the hash the chain gave it last."""

    block_number: int
    block_hash: str
    until_s: float
    message: str


class FlapGuard:
    """Counts the steps in which blocks came back after their reversal and, once the chain counts
    as flapping, turns steps into waits until it settles. One per follower (its memory is the
    follower's: a restart starts counting afresh)."""

    def __init__(self, rpc: RpcClient, store: LedgerStore, chain_id: int, clock_s: Callable[[], float]) -> None:
        self.rpc = rpc
        self.store = store
        """For the alert outbox (its database)."""
        self.chain_id = chain_id
        self.clock_s = clock_s
        self.comebacks: deque[float] = deque()
        """clock_s() of recent steps in which blocks came back after their reversal."""
        self.flapping: Flapping | None = None
        self.backoff_s = FLAP_BACKOFF_S
        self.last_flap_s: float | None = None
        self.status: FollowerStatus | None = None
        """Set with every backing-off result: the follower's status while it waits."""

    def note_comeback(self, number: int, block_hash: str) -> None:
        """Blocks came back after their reversal in this step. More than MAX_REPOSTS such steps
        within FLAP_WINDOW_S: the chain is flapping (raise ChainFlapping, `step` backs off)."""
        now_s = self.clock_s()
        while self.comebacks and now_s - self.comebacks[0] > FLAP_WINDOW_S:
            self.comebacks.popleft()
        self.comebacks.append(now_s)
        if len(self.comebacks) > MAX_REPOSTS:
            raise ChainFlapping(
                f"chain {self.chain_id}: blocks came back after their reversal {len(self.comebacks)} times in "
                f"{FLAP_WINDOW_S:.0f} s (block {number} {block_hash} the last time): the chain is flapping between "
                "forks (an RPC provider switching between nodes?)",
                number,
                block_hash,
            )

    def back_off(self, exc: ChainFlapping, cursor: Cursor) -> StepResult:
        """First sign of a flapping chain (or again after it seemed to settle): one alert in the
        outbox (deduplicated: one open `chain_flapping` alert per chain), then wait."""
        now_s = self.clock_s()
        if self.last_flap_s is None or now_s - self.last_flap_s > FLAP_WINDOW_S:
            self.backoff_s = FLAP_BACKOFF_S
        self.last_flap_s = now_s
        log.warning("%s; backing off", exc)
        try:
            record_alert(
                self.store.db,
                self.chain_id,
                "chain_flapping",
                str(exc),
                {
                    "block": exc.block_number,
                    "block_hash": exc.block_hash,
                    "comebacks": len(self.comebacks),
                    "window_s": FLAP_WINDOW_S,
                },
                severity="warning",
            )
        except Exception:  # the backoff must not turn into another error; the log line above stands
            log.exception("chain %s: the chain_flapping alert could not be written to the outbox", self.chain_id)
        self.flapping = Flapping(exc.block_number, exc.block_hash, now_s, str(exc))
        return self._wait_longer(cursor, now_s)

    def still_flapping(self, cursor: Cursor) -> StepResult | None:
        """While backing off: a backing-off result until the wait is over; then the disputed block
        is read again. The same hash as at the last look: the chain settled (None: step on, with
        the come-back count cleared). Another hash: wait longer (bounded exponential)."""
        flapping = self.flapping
        assert flapping is not None
        now_s = self.clock_s()
        if now_s < flapping.until_s:
            return self._backing_off(cursor, now_s)
        try:
            seen: str | None = self.rpc.get_headers([flapping.block_number])[flapping.block_number].hash
        except RpcError:  # the block is gone (a shorter fork): not settled
            seen = None
        if seen == flapping.block_hash:
            log.warning(
                "chain %s: block %s kept hash %s over the backoff: the chain settled, following it again",
                self.chain_id,
                flapping.block_number,
                seen,
            )
            self.flapping = None
            self.comebacks.clear()
            return None
        flapping.block_hash = seen or ""
        return self._wait_longer(cursor, now_s)

    def _wait_longer(self, cursor: Cursor, now_s: float) -> StepResult:
        flapping = self.flapping
        assert flapping is not None
        wait_s = self.backoff_s
        self.backoff_s = min(MAX_FLAP_BACKOFF_S, self.backoff_s * 2)
        flapping.until_s = now_s + wait_s
        return self._backing_off(cursor, now_s)

    def _backing_off(self, cursor: Cursor, now_s: float) -> StepResult:
        flapping = self.flapping
        assert flapping is not None
        retry_in_s = max(0.0, flapping.until_s - now_s)
        reason = (
            f"{flapping.message}; waiting for it to settle: block {flapping.block_number} is looked at "
            f"again in {retry_in_s:.0f} s"
        )
        self.status = FollowerStatus("backing_off", reason, datetime.fromtimestamp(flapping.until_s, tz=UTC))
        return StepResult(cursor.last_block + 1, cursor.last_block, 0, backing_off=reason, retry_in_s=retry_in_s)


# ----------------------------------------------------------------------------- reorgs


class Reorgs:
    """Detects and undoes one chain's reorgs for one follower (its store, state, reads and posts)."""

    def __init__(
        self,
        store: LedgerStore,
        state: IndexerState,
        rpc: RpcClient,
        fetcher: RangeFetcher,
        poster: LedgerPoster,
        flaps: FlapGuard,
        *,
        chain_id: int,
        ledger: str,
        confirmations: int,
    ) -> None:
        self.store = store
        self.state = state
        self.rpc = rpc
        self.fetcher = fetcher
        self.poster = poster
        self.flaps = flaps
        self.chain_id = chain_id
        self.ledger = ledger
        self.confirmations = confirmations

    def rollback(
        self,
        last_block: int,
        head: int,
        lease: Lease,
        *,
        renew_lease: Callable[[], None],
        ensure_assets: Callable[[set[str]], None],
    ) -> StepResult:
        """Walk back to the common ancestor; in ONE ledger transaction reverse the orphaned blocks'
        entries (newest first), post the canonical blocks' entries up to the old tip's height and
        move the cursor there. When that does not fit one ledger batch (a window holding more
        than MAX_ENTRIES_PER_BATCH entries) or the chain moves while the canonical blocks are
        read, fall back to reversals + rewind (the last batch with the rewind, each batch
        replay-safe) and let the next steps re-read the canonical blocks. A read ahead must have
        been dropped before (it started at the orphaned tip)."""
        stored = self.state.recent_blocks()
        candidates = sorted((n for n in stored if n <= head), reverse=True)
        chain = self.rpc.get_headers(candidates) if candidates else {}
        ancestor = next((n for n in candidates if chain[n].hash == stored[n]), None)
        if ancestor is None or last_block - ancestor > self.confirmations:
            self.too_deep(last_block, ancestor, head)
        assert ancestor is not None
        depth = last_block - ancestor
        ids = [item.entry_id for item in self.state.entries_after(ancestor)]  # newest first: the order to undo
        # read without registering: the contracts created in the orphaned blocks are un-registered
        # (rewind_in) and those of the canonical blocks registered (advance_in) in the swap's
        # transaction; a fallback rewind un-registers them and the next steps register them again
        plan = self.fetcher.read(ancestor, stored[ancestor], min(head, last_block), register=False)
        if plan is not None and len(ids) + len(plan.requests) <= MAX_ENTRIES_PER_BATCH:
            requests = self._fresh_keys(plan.requests, set(ids))
            ensure_assets({leg.asset for request, _, _ in requests for leg in request.legs})
            renew_lease()
            self._swap(ancestor, stored[ancestor], ids, plan, requests, lease)
            log.warning(
                "chain %s: reorg of depth %s at block %s: %s entries reversed, %s canonical entries posted "
                "(one transaction)",
                self.chain_id,
                depth,
                ancestor + 1,
                len(ids),
                len(requests),
            )
            return StepResult(ancestor + 1, plan.to_block, len(requests), reorg_depth=depth)
        renew_lease()
        self._reverse_and_rewind(ancestor, stored[ancestor], ids, lease)
        log.warning(
            "chain %s: reorg of depth %s at block %s: %s entries reversed; canonical blocks follow",
            self.chain_id,
            depth,
            ancestor + 1,
            len(ids),
        )
        return StepResult(ancestor + 1, ancestor, 0, reorg_depth=depth)

    def _swap(
        self,
        ancestor: int,
        ancestor_hash: str,
        ids: list[str],
        plan: Range,
        requests: list[PlacedRequest],
        lease: Lease,
    ) -> None:
        """The one-transaction rollback: reverse `ids`, post `requests`, rewind to the ancestor and
        advance over the canonical blocks (with their discoveries), all in the ledger's transaction."""

        def swap(conn: Connection, entry_ids: list[str]) -> None:
            posted = [
                BlockEntry(entry_id, number, block_hash, ordinal)
                for ordinal, (entry_id, (_, number, block_hash)) in enumerate(
                    zip(entry_ids[len(ids) :], requests, strict=False)
                )
            ]
            self.state.rewind_in(conn, ancestor, ancestor_hash, lease)
            self.state.advance_in(
                conn,
                plan.to_header,
                plan.kept,
                posted,
                plan.keep_from,
                lease,
                checkpoints=self.poster.checkpoints((b.block_number, b.block_hash, b.entry_id) for b in posted),
                anchors=plan.anchors,
                contracts=plan.discovered,
            )

        if ids or requests:
            self.store.post_many(
                self.ledger,
                [request for request, _, _ in requests],
                reverse=ids,
                reverse_reason=self._reason(),
                in_transaction=swap,
            )
        else:  # blocks without entries on both sides: post_many would not open a transaction
            self.store.db.run_write(lambda conn: swap(conn, []))

    def _reverse_and_rewind(self, ancestor: int, ancestor_hash: str, ids: list[str], lease: Lease) -> None:
        """The fallback: reverse `ids` in batches of `max_entries_per_post` (each fenced, replay-safe)
        and rewind to the ancestor in the last batch's transaction (alone when there is nothing to reverse)."""
        size = self.poster.max_entries_per_post
        batches = [ids[i : i + size] for i in range(0, len(ids), size)] or [[]]
        for number, batch in enumerate(batches):
            last = number == len(batches) - 1
            if last and not batch:
                self.state.rewind(ancestor, ancestor_hash, lease)
                break
            self.store.post_many(
                self.ledger,
                [],
                reverse=batch,
                reverse_reason=self._reason(),
                in_transaction=(lambda conn, _ids: self.state.rewind_in(conn, ancestor, ancestor_hash, lease))
                if last
                else (lambda conn, _ids: self.state.fence(conn, lease)),
            )

    def _reason(self) -> str:
        return f"reorg on chain {self.chain_id}: block orphaned"

    def _fresh_keys(self, requests: Sequence[PlacedRequest], reversing: set[str]) -> list[PlacedRequest]:
        """Requests whose key belongs to an entry that is (being) reversed get the next free
        `~<n>` generation: the block came back after its entries were undone, and a replay of
        the old key would leave it unposted. Only the reorg path needs this up front (inside one
        transaction there is no second chance); posting covers normal steps. A come-back is noted
        (`FlapGuard.note_comeback`) before anything is written."""
        fresh: list[PlacedRequest] = []
        came_back: tuple[int, str] | None = None
        for request, number, block_hash in requests:
            candidate = self.poster.free_generation(request, reversing)
            if candidate is not request and came_back is None:
                came_back = (number, block_hash)
            fresh.append((candidate, number, block_hash))
        if came_back is not None:
            self.flaps.note_comeback(*came_back)
        return fresh

    def too_deep(self, last_block: int, ancestor: int | None, head: int) -> NoReturn:
        """Stop loudly: a CRITICAL log, an alert in the outbox (indexer.alerts), ReorgTooDeep."""
        depth = "beyond the kept window" if ancestor is None else f"of depth {last_block - ancestor}"
        message = (
            f"chain {self.chain_id}: reorg {depth} exceeds the confirmation window "
            f"({self.confirmations} blocks) below block {last_block}; indexer stopped, ledger untouched"
        )
        log.critical(message)
        try:
            record_alert(
                self.store.db,
                self.chain_id,
                "reorg_too_deep",
                message,
                {"last_block": last_block, "ancestor": ancestor, "confirmations": self.confirmations, "head": head},
            )
        except Exception:  # the stop must not turn into another error; the log line above stands
            log.exception("chain %s: the reorg_too_deep alert could not be written to the outbox", self.chain_id)
        raise ReorgTooDeep(message)

    def check_shorter_chain(self, cursor: Cursor, head: int) -> None:
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
                self.too_deep(cursor.last_block, None, head)
            return
        checkpoint = self.state.checkpoint_at(head, self.ledger)
        if (
            checkpoint is not None
            and self.rpc.get_headers([checkpoint.block_number])[checkpoint.block_number].hash != checkpoint.block_hash
        ):
            self.too_deep(cursor.last_block, None, head)
