"""What a follower step did (`StepResult`) and what the follower is doing (`FollowerStatus`).

Apart from indexer.follower because the reorg handling (indexer.reorg) returns them too, and the
progress display (indexer.progress) and /health (via indexer.embedded) read them without needing
the follower's machinery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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
