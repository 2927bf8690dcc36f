"""Backfill progress: the numbers (pure, fake clock), the rich bar's rendering, and `kogi indexer
run --once` choosing the bar on a terminal and the log line elsewhere."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from api.cli.indexer import indexer_app
from indexer import progress as progress_module
from indexer.follower import StepResult
from indexer.progress import BackfillProgress, RichBar, Snapshot, format_eta
from tests.indexer.conftest import TOKEN, Stack, migrated

LINE = re.compile(r"^block (\d+) / head (\d+): lag (\d+), (\d+) entries, ([\d.]+) blocks/s$", re.MULTILINE)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_counts_rate_lag_and_eta() -> None:
    clock = Clock()
    progress = BackfillProgress(start_block=1_000, head=2_000, clock=clock, rate_window_s=10.0)
    first = progress.snapshot()
    assert (first.done, first.total, first.lag, first.fraction, first.eta_s) == (0, 1_000, 1_000, 0.0, None)
    assert not first.caught_up

    clock.now += 2.0
    s = progress.update(StepResult(1_001, 1_200, entries_posted=7), cursor=1_200, head=2_000)
    assert (s.blocks, s.entries, s.done, s.lag, s.blocks_per_s) == (200, 7, 200, 800, 100.0)
    assert s.fraction == pytest.approx(0.2) and s.eta_s == pytest.approx(8.0)

    clock.now += 2.0  # the chain grew: the target moves with it
    s = progress.update(StepResult(1_201, 1_400, entries_posted=3), cursor=1_400, head=2_100)
    assert (s.total, s.lag, s.entries, s.blocks_per_s) == (1_100, 700, 10, 100.0)

    clock.now += 1.0  # standby / idle steps move nothing but time
    s = progress.update(StepResult(1_401, 1_400, 0, standby=True), cursor=1_400, head=2_100)
    assert s.blocks == 400 and s.blocks_per_s == pytest.approx(80.0)

    clock.now += 20.0  # the rate only looks at the last window: a slow era shows at once
    s = progress.update(StepResult(1_401, 1_410, 0), cursor=1_410, head=2_100)
    assert s.blocks_per_s < 10

    s = progress.update(StepResult(1_411, 1_405, 0, reorg_depth=5), cursor=1_405, head=2_100)
    assert s.blocks == 410 and s.done == 405  # a rollback moves the cursor back, counts nothing

    s = progress.update(StepResult(1_406, 2_100, 1), cursor=2_100, head=2_100)
    assert s.caught_up and s.lag == 0 and s.eta_s == 0.0 and s.fraction == 1.0
    assert progress.line() == f"block 2100 / head 2100: lag 0, 11 entries, {s.blocks_per_s:.1f} blocks/s"


def test_a_head_below_the_cursor_counts_as_caught_up() -> None:
    s = Snapshot(cursor=50, head=48, start_block=10, blocks=40, entries=0, blocks_per_s=1.0, elapsed_s=1.0)
    assert s.caught_up and s.lag == 0 and s.total == 40 and s.fraction == 1.0


def test_format_eta() -> None:
    assert [format_eta(v) for v in (None, 0.0, 65.4, 3_723.0)] == ["-", "0:00", "1:05", "1:02:03"]


def test_rich_bar_renders_blocks_rate_entries_and_lag() -> None:
    out = io.StringIO()
    bar = RichBar(31337, file=out, force_terminal=True, width=120)
    bar.show(
        Snapshot(cursor=1_250, head=2_000, start_block=1_000, blocks=250, entries=42, blocks_per_s=125.0, elapsed_s=2.0)
    )
    bar.close()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    assert "chain 31337" in text and "250/1000 blocks" in text
    assert "125.0 blocks/s, 42 entries, lag 750, eta 0:06" in text


def kogi_app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(indexer_app, name="indexer")
    return app


@pytest.fixture()
def chain_with_events(stack: Stack, tmp_path: Path) -> Path:
    a, b = stack.investors[0], stack.investors[1]
    stack.send(stack.token.functions.mint(a, 9 * TOKEN))
    stack.send(stack.token.functions.transfer(b, 4 * TOKEN), a)
    manifest = tmp_path / "31337.json"
    manifest.write_text(json.dumps(stack.manifest.to_json()))
    return manifest


def _run_once(anvil_chain: Any, sqlite_url: str, manifest: Path) -> Any:
    migrated(sqlite_url).dispose()
    return CliRunner().invoke(
        kogi_app(),
        [
            "indexer",
            "run",
            "--rpc-url",
            anvil_chain.rpc_url,
            "--database-url",
            sqlite_url,
            "--manifest",
            str(manifest),
            "--confirmations",
            "0",
            "--once",
            "--max-blocks-per-step",
            "5",
        ],
    )


def test_run_once_off_a_terminal_prints_progress_lines(
    chain_with_events: Path, sqlite_url: str, anvil_chain: Any
) -> None:
    ran = _run_once(anvil_chain, sqlite_url, chain_with_events)
    assert ran.exit_code == 0, ran.output
    lines = LINE.findall(ran.output)
    assert lines, ran.output
    cursor, head, lag, entries, _rate = lines[-1]
    assert cursor == head and lag == "0" and int(entries) >= 2
    assert "\x1b[" not in ran.output  # no bar escape codes in logs


def test_run_once_on_a_terminal_drives_the_bar_until_caught_up(
    chain_with_events: Path,
    sqlite_url: str,
    anvil_chain: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shown: list[Snapshot] = []
    closed: list[bool] = []

    class FakeBar:
        def __init__(self, chain_id: int) -> None:
            assert chain_id == 31337

        def show(self, snapshot: Snapshot) -> None:
            shown.append(snapshot)

        def close(self) -> None:
            closed.append(True)

    monkeypatch.setattr(progress_module, "terminal_bar_available", lambda _stream: True)
    monkeypatch.setattr(progress_module, "RichBar", FakeBar)
    ran = _run_once(anvil_chain, sqlite_url, chain_with_events)
    assert ran.exit_code == 0, ran.output
    assert closed == [True]
    assert len(shown) >= 2 and shown[-1].caught_up and not shown[0].caught_up
    assert [s.done for s in shown] == sorted(s.done for s in shown)
    assert len(LINE.findall(ran.output)) == 1  # the final state, once, as a line
