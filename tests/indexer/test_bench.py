"""`kogi bench indexer` with tiny numbers: the JSON shape, every event posted, Ponder failures reported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli.bench import app
from indexer.bench import BenchChain, write_ponder_project
from tests.servers import require_binary


@pytest.fixture(autouse=True)
def _anvil_available() -> None:
    from contracts.anvil import ANVIL

    require_binary("anvil", [str(ANVIL)])


def _run(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, ["indexer", "--events", "300", "--blocks", "10", *args])
    assert result.output.strip(), result.output
    return result.exit_code, json.loads(result.output.strip().splitlines()[-1])


def test_tiny_bench_posts_every_event() -> None:
    code, report = _run("--no-ponder", "--json")
    assert code == 0, report
    assert report["workload"] == {
        "events": 300,
        "blocks": 10,
        "holders": 300,
        "events_per_block": 30,
        "tail_blocks": 30,
    }
    chain, kogi = report["chain"], report["kogi"]
    assert chain["transfer_events"] == 301  # the fan-out transfers + the mint to the fan-out contract
    assert chain["head"] >= chain["token_block"] + 10 + 30
    assert kogi["database"] == "sqlite"
    for key in ("seconds", "sync_seconds", "events_per_s", "blocks_per_s", "peak_rss_mib"):
        assert kogi[key] > 0, key
    assert kogi["events"] == kogi["entries_posted"] == 301
    quartiles = {"25%", "50%", "75%", "100%"}
    assert set(kogi["rss_mib_by_events_posted"]) == set(kogi["peak_rss_mib_by_events_posted"]) == quartiles
    assert kogi["peak_rss_mib_by_events_posted"]["100%"] <= kogi["peak_rss_mib"]
    assert kogi["check"] == {
        "entries_by_kind": {"mint": 1, "transfer": 300},
        "transfer_events_on_chain": 301,
        "all_events_posted": True,
        "trial_balance_ok": True,
        "reconcile_differences": 0,
    }
    assert report["ponder"] == {"skipped": True}
    assert "ratio_kogi_vs_ponder" not in report
    # both of Kogi's processes count: the follower and its reader
    assert (
        report["kogi_peak_rss_mib"]
        == kogi["peak_rss_mib_incl_reader"]
        == round(kogi["peak_rss_mib"] + kogi["reader_peak_rss_mib"], 1)
    )
    assert kogi["reader_peak_rss_mib"] > 0


def test_ponder_that_cannot_be_installed_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "npm" else real_which(name, *a, **k))
    code, report = _run("--dense", "--ponder")
    assert code == 0
    assert report["workload"]["blocks"] == 1 and report["workload"]["events_per_block"] == 300
    assert report["kogi"]["check"]["all_events_posted"] is True
    assert "npm not found" in report["ponder"]["error"]

    code, report = _run("--ponder", "--require-ponder")
    assert code == 1
    assert "error" in report["ponder"]


def test_generated_ponder_project(tmp_path: Path) -> None:
    chain = BenchChain(
        rpc_url="http://127.0.0.1:1",
        chain_id=31337,
        manifest={},
        token="0x" + "ab" * 20,
        token_block=15,
        head=100,
        transfer_events=1,
        seed_seconds=0.0,
    )
    write_ponder_project(tmp_path, chain, None)
    config = (tmp_path / "ponder.config.ts").read_text()
    assert "disableCache: true" in config and "startBlock: 15" in config and 'kind: "pglite"' in config
    assert "PONDER_RPC_URL_31337" in config and chain.token in config
    assert json.loads((tmp_path / "package.json").read_text())["dependencies"]["ponder"] == "0.16.10"
    assert 'onchainTable("transfer"' in (tmp_path / "ponder.schema.ts").read_text()
    assert 'ponder.on("Token:Transfer"' in (tmp_path / "src" / "index.ts").read_text()
    write_ponder_project(tmp_path, chain, "postgresql://localhost/x")
    assert 'kind: "postgres"' in (tmp_path / "ponder.config.ts").read_text()
