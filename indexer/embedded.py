"""The follower on a background thread, for the embedded stack (`make run`: one process).

The API process starts it after migrations and contract deployment and stops it on shutdown.
A fatal error (ReorgTooDeep, LeaseLost, an RPC outage that outlasts retries) stops the thread
and is kept in `error` so /health can report it; it is never swallowed silently. `status()` says
what the thread does meanwhile (running, waiting for another owner's lease, backing off from RPC
errors or a flapping chain, stopped), with a human reason, for /health.
"""

from __future__ import annotations

import logging
import threading
import time

from contracts.manifest import Manifest
from indexer.follower import Follower
from indexer.rpc import RpcClient
from indexer.status import FollowerStatus
from ledger import LedgerStore
from ledger.chart import DEFAULT_ACCOUNT_CODE_RULES
from ledger.database import Database

log = logging.getLogger("kogi.indexer")

STOP_TIMEOUT_S = 10.0
RPC_RETRY_DELAY_S = 1.0


class EmbeddedIndexer:
    """Runs `Follower.run` on a daemon thread until `stop()`."""

    def __init__(
        self,
        database: Database,
        rpc_url: str,
        manifest: Manifest,
        *,
        ledger: str = "main",
        confirmations: int | None = None,
        poll_s: float = 0.2,
    ) -> None:
        self.rpc = RpcClient(rpc_url)
        """For callers' threads (lag queries); the follower thread has its own client."""
        store = LedgerStore(database, account_code_rules=DEFAULT_ACCOUNT_CODE_RULES)
        self.follower = Follower(store, RpcClient(rpc_url), manifest, ledger=ledger, confirmations=confirmations)
        self.poll_s = poll_s
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> EmbeddedIndexer:
        self._thread = threading.Thread(target=self._main, name=f"kogi-indexer-{self.follower.chain_id}", daemon=True)
        self._thread.start()
        return self

    def _main(self) -> None:
        try:
            self.follower.run(should_stop=self._stop.is_set, poll_s=self.poll_s, sleep=self._stop.wait)
        except BaseException as exc:  # kept for /health; the thread ends
            self.error = exc
            log.critical("embedded indexer stopped: %s", exc)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def status(self) -> FollowerStatus:
        """The follower's state (`FollowerStatus.state`): starting, running, waiting_for_lease (holder
        and expiry in `reason`, expiry in `until`), backing_off (why, next attempt in `until`),
        stopped (the error, if any)."""
        if self._thread is not None and not self._thread.is_alive():
            error = self.error
            return FollowerStatus("stopped", "stopped" if error is None else f"{type(error).__name__}: {error}")
        if self._thread is None:
            return FollowerStatus("stopped", "not started")
        return self.follower.status

    def lag_blocks(self) -> int | None:
        """Head minus cursor (None before the first cursor)."""
        cursor = self.follower.state.cursor()
        return None if cursor is None else max(0, self.rpc.head() - cursor.last_block)

    def wait_caught_up(self, timeout_s: float) -> None:
        """Block until the cursor reaches the current head (tests, `kogi demo`); raise on error/timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.error is not None:
                raise RuntimeError(f"indexer stopped: {self.error}") from self.error
            if self.lag_blocks() == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"indexer still {self.lag_blocks()} blocks behind after {timeout_s}s")
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
        if self.error is None:
            self.follower.close()
        self.follower.rpc.close()
        self.rpc.close()
