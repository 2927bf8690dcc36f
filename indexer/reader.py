"""Read and digest the next block range in a second process while the follower posts the current one.

A follower step is two CPU-bound halves under one GIL: reading (eth_getLogs, JSON, decoding,
mapping events to entry requests, canonical metadata and body digests) and writing (ledger
batches: balances, rows, SQLite/PostgreSQL, seals). `RangeReader` runs the first half of step
N+1 in a child process during the second half of step N, so a two-core machine does both at once.

The child only reads. It runs the follower's own range read (indexer.ranges.RangeFetcher) with
its own RPC client and database connection, plus `ledger.entry_body` for every request; it writes
nothing. Contracts
it discovers (factory events) come back with the range and the follower registers them before
it posts, as an inline read would; the ledger re-derives a sample of the bodies (and `verify`
all of them). The follower stays the only writer and uses a range only if it starts at its
cursor and block hash; otherwise the range is dropped and read again inline.

Used by `kogi indexer run` and `kogi bench indexer`; the in-process follower of `kogi serve`
and the Celery task read inline (no child processes inside a server or a worker).
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from typing import Any

from contracts.manifest import Manifest
from indexer.mapping import ContractInfo
from indexer.ranges import Discovery, Range, RangeFetcher
from indexer.rpc import RpcClient
from indexer.state import IndexerState
from ledger import Database, EntryBody, EntryRequest, LedgerStore, Leg, Side, entry_body
from ledger.chart import DEFAULT_ACCOUNT_CODE_RULES

log = logging.getLogger("kogi.indexer.reader")

READ_TIMEOUT_S = 600.0
"""A read ahead that takes longer means a stuck child: the follower drops it and reads inline."""


class ReaderFailed(RuntimeError):
    """The reader process died or hangs: the follower goes on reading inline."""


ReadAhead = tuple[Range | None, list[Discovery], list[EntryBody]]
"""A range read ahead: the range (None: the chain moved while it was read), the contracts it
discovered, and the body of each of its entry requests."""


@dataclass
class CapturingRegistry:
    """The follower's contracts as the reader sees them (an indexer.ranges.ContractRegistry):
    reads pass through to the database; registrations are kept in memory and returned with the
    range (the follower registers them: the child writes nothing)."""

    state: IndexerState
    captured: list[Discovery] = field(default_factory=list)

    def contracts(self, up_to_block: int | None = None) -> dict[str, ContractInfo]:
        known = self.state.contracts(up_to_block)
        known.update({info.address: info for info, _ in self.captured})
        return known

    def add_contracts(self, contracts: Sequence[Discovery], *, replace: bool = False) -> None:
        self.captured.extend(contracts)  # the follower registers them with replace=True


def _serve(
    connection: Connection, database_url: str, rpc_url: str, manifest: Manifest, ledger: str, confirmations: int
) -> None:
    """Child process: answer ("read", after_block, after_hash, to_block) until ("stop",) or until
    the pipe closes (the follower exited or died)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the follower decides
    database = Database(database_url)
    rpc = RpcClient(rpc_url)
    chain_id = manifest.chain_id
    capturing = CapturingRegistry(IndexerState(database, chain_id))
    store = LedgerStore(database, account_code_rules=DEFAULT_ACCOUNT_CODE_RULES)
    fetcher = RangeFetcher(rpc, capturing, store, chain_id=chain_id, ledger=ledger, confirmations=confirmations)
    try:
        connection.send(("ready",))
        while True:
            try:
                message = connection.recv()
            except EOFError:  # the follower closed the pipe, or died
                return
            if message[0] == "stop":
                return
            _, after_block, after_hash, to_block = message
            capturing.captured = []
            _answer(connection, fetcher, capturing, ledger, after_block, after_hash, to_block)
    except (BrokenPipeError, EOFError, ConnectionResetError):
        return  # the follower is gone (finished before this process was ready, or died)
    finally:
        rpc.close()
        database.dispose()


def _answer(
    connection: Connection,
    fetcher: RangeFetcher,
    capturing: CapturingRegistry,
    ledger: str,
    after_block: int,
    after_hash: str,
    to_block: int,
) -> None:
    """Read (after_block, to_block] and send it with its discoveries and entry bodies, or the
    error (the follower re-raises it as if it had read inline)."""
    try:
        started = time.perf_counter()
        plan = fetcher.read(after_block, after_hash, to_block)
        read_s = time.perf_counter() - started
        requests = plan.requests if plan is not None else []
        bodies = [entry_body(ledger, request) for request, _, _ in requests]
        log.debug(
            "read blocks %s-%s in %.2fs, bodies in %.2fs",
            after_block + 1,
            to_block,
            read_s,
            time.perf_counter() - started - read_s,
        )
        if plan is not None:  # requests travel as plain tuples: cheaper to send and rebuild
            plan = replace(plan, requests=[])
        connection.send(
            (
                "ok",
                plan,
                capturing.captured if plan is not None else [],
                bodies,
                [_pack(request) + (number, block_hash) for request, number, block_hash in requests],
            )
        )
    except Exception as exc:  # the follower re-raises it as if it had read inline
        try:
            connection.send(("error", exc))
        except (BrokenPipeError, EOFError):
            raise
        except Exception:  # an exception that does not pickle
            connection.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))


def _pack(request: EntryRequest) -> tuple[Any, ...]:
    """An entry request as builtins (a pickled frozen dataclass costs several times more to load)."""
    effective_at = request.effective_at
    assert effective_at is not None  # the mapping sets the block time
    return (
        request.idempotency_key,
        request.kind,
        effective_at,
        request.external_ref,
        request.metadata,
        tuple((leg.account, leg.asset, leg.side.value, leg.amount_units) for leg in request.legs),
    )


def _unpack(item: tuple[Any, ...]) -> EntryRequest:
    """Rebuilt with the ledger's own validation (the follower posts what an inline read would)."""
    key, kind, effective_at, external_ref, metadata, legs = item[:6]
    return EntryRequest(
        idempotency_key=key,
        kind=kind,
        effective_at=effective_at,
        external_ref=external_ref,
        metadata=metadata,
        legs=tuple(Leg(a, s, _SIDES[side], amount) for a, s, side, amount in legs),
    )


_SIDES = {side.value: side for side in Side}


class RangeReader:
    """One child process reading ranges ahead for one follower (at most one read in flight)."""

    def __init__(self, database_url: str, rpc_url: str, manifest: Manifest, ledger: str, confirmations: int) -> None:
        # spawn, not fork: a forked child would run the parent's after-fork hooks (kombu's, for
        # one, blocks on the parent's Redis socket) and inherit its locks mid-use. The child
        # imports for a second or two; the follower reads inline until it says it is ready.
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(
            target=_serve,
            args=(child, database_url, rpc_url, manifest, ledger, confirmations),
            name="kogi-indexer-reader",
            daemon=True,
        )
        self._process.start()
        child.close()
        self._ready = False
        self._pending: tuple[int, str] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def ready(self) -> bool:
        """Started and listening: until then the follower reads inline rather than wait."""
        if not self._ready:
            try:
                if self._connection.poll(0):
                    message = self._connection.recv()
                    if message != ("ready",):  # pragma: no cover - protocol guard
                        raise ReaderFailed(f"unexpected message from the reader process: {message!r}")
                    self._ready = True
            except (EOFError, OSError) as exc:
                raise ReaderFailed(f"the indexer's reader process is gone: {exc}") from exc
            if not self._ready and not self._process.is_alive():
                raise ReaderFailed(f"the indexer's reader process died (exit code {self._process.exitcode})")
        return self._ready

    def _recv(self) -> Any:
        """The answer to the read in flight; ReaderFailed if the child died or hangs."""
        waited_s = 0.0
        try:
            while not self._connection.poll(1.0):
                waited_s += 1.0
                if not self._process.is_alive():
                    raise ReaderFailed(f"the indexer's reader process died (exit code {self._process.exitcode})")
                if waited_s >= READ_TIMEOUT_S:
                    raise ReaderFailed(f"the indexer's reader process gave no answer in {READ_TIMEOUT_S:.0f} s")
            return self._connection.recv()
        except (EOFError, OSError) as exc:
            raise ReaderFailed(f"the indexer's reader process is gone: {exc}") from exc

    def submit(self, after_block: int, after_hash: str, to_block: int) -> bool:
        """Start reading (after_block, to_block]; False while the child is still starting (the
        follower then reads that range inline). The follower must have registered every contract
        discovered up to after_block (the child reads them from the database)."""
        self.drop()
        if not self.ready:
            return False
        try:
            self._connection.send(("read", after_block, after_hash, to_block))
        except OSError as exc:
            raise ReaderFailed(f"the indexer's reader process is gone: {exc}") from exc
        self._pending = (after_block, after_hash)
        return True

    def take(self, after_block: int, after_hash: str) -> ReadAhead | None:
        """The range read ahead if it starts at (after_block, after_hash), else None (it is then
        dropped). Errors of the read are raised here, as from an inline read."""
        if self._pending is None:
            return None
        if self._pending != (after_block, after_hash):
            self.drop()
            return None
        self._pending = None
        status, *payload = self._recv()
        if status == "error":
            raise payload[0]
        plan, discovered, bodies, packed = payload
        if plan is not None:
            plan = replace(plan, requests=[(_unpack(item), item[-2], item[-1]) for item in packed])
        return plan, discovered, bodies

    def drop(self) -> None:
        """Wait for a read in flight and forget it (never two reads at once)."""
        if self._pending is not None:
            self._pending = None
            self._recv()

    def close(self) -> None:
        self._pending = None
        try:
            self._connection.send(("stop",))
        except OSError:  # the child is gone already
            pass
        self._connection.close()
        self._process.join(5 if self._ready else 0.5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
