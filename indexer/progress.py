"""Backfill progress of `kogi indexer run`: blocks done / target head, blocks/s, entries, lag.

`BackfillProgress` is pure (fed with each StepResult, the cursor and the head; time from an
injectable clock) so the numbers are unit-tested; `RichBar` only renders them, on a terminal.
Off a terminal (CI, log files) the CLI prints `BackfillProgress.line()` every few seconds instead:
a redrawn bar in a log file is noise, a line per interval is greppable.

Rate: blocks per second over the last `RATE_WINDOW_S` (a backfill slows down in dense eras; an
average since the start would hide that and make the ETA optimistic).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from indexer.follower import StepResult

RATE_WINDOW_S = 30.0


@dataclass(frozen=True)
class Snapshot:
    """One observation, as the bar and the log line show it."""

    cursor: int
    head: int
    start_block: int
    """The cursor when the run started: the bar counts from there."""
    blocks: int
    """Blocks processed this run (a reorg's re-read blocks count again)."""
    entries: int
    blocks_per_s: float
    elapsed_s: float

    @property
    def lag(self) -> int:
        return max(0, self.head - self.cursor)

    @property
    def done(self) -> int:
        return max(0, self.cursor - self.start_block)

    @property
    def total(self) -> int:
        """Blocks from the start cursor to the head (grows while the chain does)."""
        return max(self.done, self.head - self.start_block)

    @property
    def fraction(self) -> float:
        return 1.0 if self.total == 0 else self.done / self.total

    @property
    def eta_s(self) -> float | None:
        """Seconds to reach the current head at the current rate (None when not moving)."""
        if self.lag == 0:
            return 0.0
        return None if self.blocks_per_s <= 0 else self.lag / self.blocks_per_s

    @property
    def caught_up(self) -> bool:
        return self.cursor >= self.head


class BackfillProgress:
    """Accumulates what the steps did; `snapshot()` gives the numbers to show."""

    def __init__(
        self,
        start_block: int,
        head: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        rate_window_s: float = RATE_WINDOW_S,
    ) -> None:
        self.clock = clock
        self.started = clock()
        self.start_block = start_block
        self.cursor = start_block
        self.head = head
        self.blocks = 0
        self.entries = 0
        self.rate_window_s = rate_window_s
        self._samples: deque[tuple[float, int]] = deque([(self.started, 0)])
        """(time, blocks so far): the rate is the slope over the window."""

    def update(self, result: StepResult, cursor: int, head: int) -> Snapshot:
        """Record one step (standby steps and reorgs move no blocks forward)."""
        now = self.clock()
        self.blocks += result.blocks
        self.entries += result.entries_posted
        self.cursor = cursor
        self.head = head
        self._samples.append((now, self.blocks))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.rate_window_s:
            self._samples.popleft()  # keep one sample at or before the window's start
        return self.snapshot()

    def blocks_per_s(self) -> float:
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        return 0.0 if t1 <= t0 else (b1 - b0) / (t1 - t0)

    def snapshot(self) -> Snapshot:
        return Snapshot(
            self.cursor,
            self.head,
            self.start_block,
            self.blocks,
            self.entries,
            self.blocks_per_s(),
            self.clock() - self.started,
        )

    def line(self) -> str:
        """The periodic log line (also printed once when a `--once` run finishes)."""
        s = self.snapshot()
        return f"block {s.cursor} / head {s.head}: lag {s.lag}, {s.entries} entries, {s.blocks_per_s:.1f} blocks/s"


class RichBar:
    """The bar on a terminal (stderr), fed with snapshots; `close()` leaves the final state on screen."""

    def __init__(
        self,
        chain_id: int,
        *,
        file: IO[str] | None = None,
        force_terminal: bool | None = None,
        width: int | None = None,
    ) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        console = Console(file=file, stderr=file is None, force_terminal=force_terminal, width=width)
        self._progress = Progress(
            TextColumn(f"chain {chain_id}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("blocks"),
            TextColumn(
                "{task.fields[rate]:.1f} blocks/s, {task.fields[entries]} entries, lag {task.fields[lag]}, "
                "eta {task.fields[eta]}"
            ),
            console=console,
            transient=False,
        )
        self._task: Any = self._progress.add_task("backfill", total=None, rate=0.0, entries=0, lag=0, eta="-")
        self._progress.start()

    def show(self, snapshot: Snapshot) -> None:
        self._progress.update(
            self._task,
            completed=snapshot.done,
            total=snapshot.total,
            rate=snapshot.blocks_per_s,
            entries=snapshot.entries,
            lag=snapshot.lag,
            eta=format_eta(snapshot.eta_s),
        )

    def close(self) -> None:
        self._progress.stop()


def format_eta(seconds: float | None) -> str:
    """`1:02:03` / `4:05` / `-` (unknown: nothing moved yet)."""
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def terminal_bar_available(stream: Any) -> bool:
    """A bar only on an interactive terminal and when rich is installed (typer brings it)."""
    try:
        import rich  # noqa: F401
    except ImportError:  # pragma: no cover - typer-slim without rich
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
