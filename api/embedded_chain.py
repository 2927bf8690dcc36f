"""The embedded chain stack that `make run` / `kogi serve` brings up inside the API process.

Started and stopped by the FastAPI lifespan when `KOGI_EMBEDDED_CHAIN` is on (the default):

1. **Chain**: anvil on `KOGI_CHAIN_PORT` (default 18545, never 8545) with the dev mnemonic, in its
   own process group (Ctrl-C reaches the API first, which then stops the indexer before anvil).
   On Linux anvil also dies with the API process, even a SIGKILLed one (`PR_SET_PDEATHSIG`, see
   contracts/anvil.py: it is forked by a thread that lives as long as the process, because this
   start runs on an anyio worker thread that may exit). When the port is taken, the error names the
   process holding it, and says so when it is an anvil left over with the same state file.
   With `KOGI_RPC_URL` set, no anvil is started and that chain is used as it is.
2. **Persistence**: the chain (blocks, receipts, state) is kept in `KOGI_CHAIN_STATE_FILE` (default
   `.kogi/anvil-state.json`): loaded on start (`--load-state`), saved by this process every
   `STATE_INTERVAL_S` seconds and on stop, atomically, with the previous copy as `….prev`, and
   dumped by anvil itself to `….exit` when it exits (contracts/anvil.py), so a restart continues the
   same chain that the ledger mirrors. A corrupt copy (an empty or truncated file) is reported and
   the newest good copy used; with none left, start-up fails naming `kogi chain recover`. Anvil
   restarts its clock from the wall clock, so when the saved chain is ahead (a demo moved time
   forward) the clock is moved forward again: block timestamps never go backwards.
3. **Contracts**: the manifest `KOGI_DEPLOYMENTS_DIR/<chain id>.json` is reused while every contract
   in it still has code at its address; otherwise the core is deployed again (only on the anvil
   started here — an external chain needs `kogi contracts deploy`) and the manifest rewritten.
4. **The ledger must mirror this chain**: if the database already holds an indexer cursor for the
   chain id whose block is missing or has another hash (the state file was deleted, or anvil was
   killed between two state writes), the chain the ledger mirrors no longer exists. Journal
   entries are immutable, so Kogi refuses to start instead of mixing two chains in one ledger, and
   names the way out: `kogi chain recover` (services/chain_recovery.py) reverses the entries mirrored
   from the lost chain, keeps every off-chain entry, resets the indexer's state for that chain, and
   the next start mirrors a fresh chain.
5. **Indexer**: `EmbeddedIndexer` (the follower on a daemon thread) posts into the default ledger.
   Its lease owner is unique per process: after a clean stop the lease is released at once; after a
   crash the next start stands by until the old lease expires (30 s), then catches up.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from web3 import HTTPProvider, Web3
from web3.types import RPCEndpoint

from api.settings import ApiSettings
from contracts.manifest import Manifest
from ledger.database import Database

log = logging.getLogger("kogi.chain")

STATE_INTERVAL_S = 2
"""Seconds between anvil state saves: what a kill -9 of anvil itself can lose at most."""
RECOVER_HINT = (
    "run `kogi chain recover` (with the server stopped) to reverse the entries mirrored from the lost "
    "chain, keep the off-chain ledger and start a fresh chain on the next `kogi serve`"
)
HEAD_TIMEOUT_S = 2.0


class MirrorMismatch(RuntimeError):
    """The ledger mirrors a chain (same id) that is not the one now served."""


@dataclass(frozen=True)
class ChainStatus:
    """What /health reports for the chain this process indexes."""

    chain_id: int
    indexed_block: int | None
    head_block: int | None
    lag_blocks: int | None
    indexer_running: bool
    error: str | None
    indexer_state: str | None = None
    """The in-process indexer's state (indexer.follower.FOLLOWER_STATES): starting, running,
    waiting_for_lease, backing_off, stopped; None when unknown."""
    indexer_reason: str | None = None
    """Human text for that state: the lease holder and expiry, the backoff's cause, the stop's error."""
    indexer_until: datetime | None = None
    """When the awaited lease expires / the next attempt is due."""
    rpc_url: str | None = None
    """JSON-RPC URL of the anvil this process started (None for KOGI_RPC_URL: it may hold a secret)."""


def rpc_url_of(settings: ApiSettings) -> str:
    """The chain's JSON-RPC URL: KOGI_RPC_URL, else the embedded anvil on KOGI_CHAIN_PORT."""
    return settings.rpc_url or f"http://127.0.0.1:{settings.chain_port}"


def manifest_is_live(w3: Web3, manifest: Manifest) -> bool:
    """Every contract of the manifest still has code on this chain."""
    if manifest.chain_id != int(w3.eth.chain_id):
        return False
    return all(
        len(w3.eth.get_code(Web3.to_checksum_address(entry.address))) > 0 for entry in manifest.contracts.values()
    )


def check_ledger_mirrors_chain(database: Database, w3: Web3, chain_id: int) -> None:
    """Raise MirrorMismatch when the database's cursor for `chain_id` is not on this chain."""
    from indexer.state import IndexerState

    cursor = IndexerState(database, chain_id).cursor()
    if cursor is None:
        return
    head = int(w3.eth.block_number)
    found = None
    if cursor.last_block <= head:
        found = "0x" + bytes(w3.eth.get_block(cursor.last_block)["hash"]).hex()
    if found is None or found.lower() != cursor.last_block_hash.lower():
        raise MirrorMismatch(
            f"the ledger mirrors chain {chain_id} up to block {cursor.last_block} ({cursor.last_block_hash[:12]}…), "
            f"but that block is not on the chain now served (head {head}): the chain state was lost or is older "
            f"than the ledger, and Kogi will not mix two chains in one ledger: {RECOVER_HINT}"
        )


def busy_port_message(exc: Any, state: Path | None) -> str:
    """Why anvil cannot start on a taken port, naming the holder (contracts.anvil.PortBusy). Kogi
    never kills it: it may be someone else's process; the user decides."""
    holder = exc.holder
    port = exc.port
    advice = "set KOGI_CHAIN_PORT to a free port, or KOGI_RPC_URL to use a running chain"
    if holder is None:
        return f"cannot start anvil: port {port} is already in use; {advice}"
    if (
        holder.is_anvil
        and state is not None
        and holder.state_file is not None
        and _same_file(holder.pid, holder.state_file, state)
    ):
        return (
            f"cannot start anvil: port {port} is held by anvil pid {holder.pid} using the same state file "
            f"({state}): a previous Kogi run left it behind (hard-killed?). Stop it with `kill {holder.pid}` "
            f"(it saves its state on SIGTERM) and start again, or {advice}"
        )
    return f"cannot start anvil: {exc}; stop that process, or {advice}"


def _same_file(pid: int, theirs: str, ours: Path) -> bool:
    """`theirs` is relative to the other process's working directory (read from /proc)."""
    path = Path(theirs)
    if not path.is_absolute():
        try:
            path = Path(os.readlink(f"/proc/{pid}/cwd")) / path
        except OSError:
            return False
    return os.path.realpath(path) == os.path.realpath(ours)


class EmbeddedChain:
    """anvil (unless KOGI_RPC_URL) + core contracts + the in-process indexer."""

    def __init__(self, settings: ApiSettings, database: Database) -> None:
        self.settings = settings
        self.database = database
        self.rpc_url = rpc_url_of(settings)
        self.anvil: Any = None
        self.indexer: Any = None
        self.chain_id: int | None = None
        self.manifest: Manifest | None = None
        self._head_lock = threading.Lock()

    # ------------------------------------------------------------------ start / stop

    def start(self) -> EmbeddedChain:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        from indexer.embedded import EmbeddedIndexer

        settings = self.settings
        if settings.rpc_url is None:
            self.anvil = self._start_anvil()
        w3 = Web3(HTTPProvider(self.rpc_url, request_kwargs={"timeout": 60}))
        self.chain_id = int(w3.eth.chain_id)
        check_ledger_mirrors_chain(self.database, w3, self.chain_id)
        self.manifest = self._manifest(w3)
        self.indexer = EmbeddedIndexer(self.database, self.rpc_url, self.manifest, ledger=settings.default_ledger)
        self.indexer.start()
        log.info(
            "embedded chain %s at %s: indexer started (manifest %s)", self.chain_id, self.rpc_url, self.manifest_path
        )

    def _start_anvil(self) -> Any:
        from contracts.anvil import AnvilProcess, PortBusy, StateFileCorrupt

        state = self.settings.chain_state_file
        if state is not None:
            state.parent.mkdir(parents=True, exist_ok=True)
        log_path = state.parent / "anvil.log" if state is not None else None
        anvil = AnvilProcess(
            port=self.settings.chain_port,
            log_path=log_path,
            own_session=True,
            state_file=state,
            state_interval_s=STATE_INTERVAL_S,
        )
        try:
            anvil.start()
        except PortBusy as exc:
            raise RuntimeError(busy_port_message(exc, state)) from exc
        except StateFileCorrupt as exc:
            raise RuntimeError(f"{exc}: {RECOVER_HINT}") from exc
        except RuntimeError as exc:
            raise RuntimeError(
                f"cannot start anvil on port {self.settings.chain_port} ({exc}); set KOGI_CHAIN_PORT "
                f"to a free port, or KOGI_RPC_URL to use a running chain"
                + (f"; anvil's log: {log_path}" if log_path else "")
            ) from exc
        w3 = anvil.web3()
        latest = int(w3.eth.get_block("latest")["timestamp"])
        ahead = latest - int(time.time())
        if ahead >= 0:  # a restarted anvil keeps the saved blocks but its clock restarts at wall time
            w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [ahead + 1])
        log.info("anvil on %s (state %s)", anvil.rpc_url, state)
        return anvil

    @property
    def manifest_path(self) -> Path:
        from contracts.manifest import manifest_path

        assert self.chain_id is not None
        return manifest_path(self.chain_id, self.settings.deployments_dir)

    def _manifest(self, w3: Web3) -> Manifest:
        from contracts.manifest import ManifestError, read_manifest, write_manifest

        path = self.manifest_path
        try:
            manifest = read_manifest(path)
        except ManifestError as exc:
            reason = str(exc)
        else:
            reason = "its contracts have no code on this chain"
            if manifest_is_live(w3, manifest):
                log.info("core contracts from %s", path)
                return manifest
        if self.anvil is None:
            raise RuntimeError(
                f"no usable deployment manifest for chain {self.chain_id} at {path} ({reason}): "
                f"deploy with `kogi contracts deploy --rpc-url {self.rpc_url} --manifest {path}`"
            )
        from contracts.core import deploy_core

        accounts: Sequence[str] = w3.eth.accounts  # web3 types it as a 1-tuple
        log.info("deploying the core contracts (%s)", reason)
        core = deploy_core(
            w3, accounts[0], compliance_signer=accounts[9], fee_recipient=accounts[8], arbiter=accounts[6]
        )
        write_manifest(core, path)
        return read_manifest(path)

    def stop(self) -> None:
        if self.indexer is not None:
            self.indexer.stop()
            self.indexer = None
        if self.anvil is not None:
            self.anvil.stop()  # a last save of the state, then SIGTERM
            self.anvil = None

    # ------------------------------------------------------------------ status

    def status(self) -> ChainStatus | None:
        """Indexed block, head and lag (head None when the RPC does not answer) and the indexer's
        state (`EmbeddedIndexer.status`: running, waiting for a lease, backing off, stopped)."""
        progress = self._progress()
        if progress is None or self.indexer is None:
            return progress
        state = self.indexer.status()
        return replace(progress, indexer_state=state.state, indexer_reason=state.reason, indexer_until=state.until)

    def _progress(self) -> ChainStatus | None:
        """Indexed block, head and lag (head None when the RPC does not answer)."""
        indexer = self.indexer
        if indexer is None or self.chain_id is None:
            return None
        cursor = indexer.follower.state.cursor()
        indexed = None if cursor is None else cursor.last_block
        try:
            with self._head_lock:  # RpcClient is not thread-safe; /health runs in a thread pool
                head: int | None = indexer.rpc.head()
        except Exception as exc:  # noqa: BLE001 - reported, never raised from /health
            log.warning("health: chain %s head unavailable: %s", self.chain_id, exc)
            head = None
        lag = None if head is None or indexed is None else max(0, head - indexed)
        error = indexer.error
        return ChainStatus(
            self.chain_id,
            indexed,
            head,
            lag,
            indexer.running,
            None if error is None else f"{type(error).__name__}: {error}",
            rpc_url=self.rpc_url if self.anvil is not None else None,
        )
