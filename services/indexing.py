"""Run a chain's follower until it is stopped or, with `once`, caught up (`kogi indexer run`).

indexer.follower.Follower does one step at a time; this is the policy around the steps, kept out
of the command so that the command only parses, prints and maps errors to exit codes:

- a transient RPC error is retried with exponential backoff (0.5 s doubling, at most
  MAX_BACKOFF_S); forever when following, ONCE_MAX_FAILURES in a row with `once` (then it is raised);
- a flapping chain (the step backs off, one alert is written) waits `retry_in_s`, renewing the
  lease at least every third of its TTL;
- standby (another follower holds the chain's lease) polls every POLL_S;
- caught up with the head (and no reorg just undone): return with `once`, else poll.

What happens is told to a `FollowObserver` (the command prints it); the progress numbers come
from indexer.progress.BackfillProgress.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from indexer.follower import MAX_BACKOFF_S, TRANSIENT_ERRORS, Follower
from indexer.progress import BackfillProgress, Snapshot
from indexer.rpc import RpcClient
from indexer.status import StepResult

ONCE_MAX_FAILURES = 5
"""`once` gives up after this many RPC errors in a row; the long-running mode retries forever."""
POLL_S = 0.5


class FollowObserver(Protocol):
    """What `follow` reports, step by step."""

    def retrying(self, failures: int, error: BaseException) -> None:
        """A transient RPC error (`failures` in a row); the step is retried after a backoff."""

    def reorged(self, result: StepResult) -> None:
        """The step undid a reorg of `result.reorg_depth` blocks."""

    def backing_off(self, reason: str) -> None:
        """The chain is flapping: nothing was done; `reason` is for the operator."""

    def standing_by(self) -> None:
        """Another follower holds the chain's lease: nothing was done."""

    def progressed(self, result: StepResult, snapshot: Snapshot) -> None:
        """A step did its work; `snapshot` is the backfill progress after it."""


def backfill_progress(follower: Follower, rpc: RpcClient) -> BackfillProgress:
    """Progress from the follower's cursor (0 when it starts from scratch) towards the current head."""
    start = follower.state.cursor()
    return BackfillProgress(start.last_block if start else 0, rpc.head())


def follow(
    follower: Follower,
    rpc: RpcClient,
    progress: BackfillProgress,
    observer: FollowObserver,
    *,
    once: bool,
    lease_ttl_s: float,
    stopping: Callable[[], bool],
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Step `follower` until `stopping()` or, with `once`, until caught up (module docstring).
    Raises what the follower raises (ReorgTooDeep, LeaseLost, …) and, with `once`, the RPC error
    that repeated ONCE_MAX_FAILURES times."""
    failures = 0
    while not stopping():
        try:
            result = follower.step()
            head = rpc.head()  # inside the retry: the step has committed, a failed head read is retried
        except TRANSIENT_ERRORS as exc:
            failures += 1
            if once and failures >= ONCE_MAX_FAILURES:
                raise
            observer.retrying(failures, exc)
            sleep(min(MAX_BACKOFF_S, 0.5 * 2 ** min(failures, 6)))
            continue
        failures = 0
        cursor = follower.state.cursor()
        snapshot = progress.update(result, cursor.last_block if cursor else 0, head)
        if result.reorg_depth:
            observer.reorged(result)
        if result.backing_off is not None:  # a flapping chain: wait for it to settle (one alert is written)
            observer.backing_off(result.backing_off)
            sleep(max(POLL_S, min(result.retry_in_s, lease_ttl_s / 3)))
            continue
        if result.standby:
            observer.standing_by()
            sleep(POLL_S)
            continue
        observer.progressed(result, snapshot)
        if snapshot.caught_up and not result.reorg_depth:
            if once:
                break
            sleep(POLL_S)
