"""The embedded stack end to end: `kogi serve` brings up anvil + core contracts + indexer + API,
`kogi demo` drives the story against it and reconciles to zero differences; a restart keeps the
chain (the saved chain state) and the ledger mirror in step. Real processes, free ports, a temp .kogi/."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from contracts.anvil import ANVIL, port_open
from tests.kogi_processes import KogiServer, kogi_env
from tests.servers import free_port, require_binary

if TYPE_CHECKING:
    from ledger import Entry

pytestmark = pytest.mark.chain


def test_make_run_stack_runs_the_demo_to_zero_differences(tmp_path: Path) -> None:
    require_binary("anvil", [str(ANVIL)])
    port, chain_port = free_port(), free_port()
    server = KogiServer(tmp_path, port, chain_port).start()
    try:
        chain = server.health_chain()
        assert chain["chain_id"] == 31337 and chain["indexer_running"] is True and chain["error"] is None
        assert (tmp_path / ".kogi" / "deployments" / "31337.json").exists()

        demo = subprocess.run(
            [sys.executable, "-m", "api.cli", "demo", "--api-url", server.url, "--timeout-s", "60"],
            cwd=tmp_path,
            env=kogi_env(chain_port),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
        out = demo.stdout
        assert "balanced: True" in out
        assert "0 differences" in out and "DIFF" not in out
        assert "Dave   invests $       1" in out  # the micro-investment
        assert "BLOCKED, restriction code 2: RECIPIENT_NOT_VERIFIED" in out
        assert "Loved the first EP" in out
        indexed = server.health_chain()
        assert indexed["lag_blocks"] == 0 and indexed["indexed_block"] == indexed["head_block"] > 40
    finally:
        assert server.stopped_cleanly(), server.log.read_text()[-3000:]
    assert (tmp_path / ".kogi" / "anvil-state.json").exists()

    # A restart continues the same chain: the manifest is reused and the mirror still matches.
    manifest = (tmp_path / ".kogi" / "deployments" / "31337.json").read_text()
    server = KogiServer(tmp_path, port, chain_port).start()
    try:
        again = server.health_chain()
        assert again["error"] is None and again["head_block"] >= indexed["head_block"]
        assert (tmp_path / ".kogi" / "deployments" / "31337.json").read_text() == manifest
        reconcile = subprocess.run(
            [sys.executable, "-m", "api.cli", "reconcile", "--rpc-url", f"http://127.0.0.1:{chain_port}"],
            cwd=tmp_path,
            env=kogi_env(chain_port),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert reconcile.returncode == 0, reconcile.stdout[-2000:] + reconcile.stderr[-2000:]
    finally:
        assert server.stopped_cleanly(), server.log.read_text()[-3000:]


ALICE_OFF_CHAIN = "holder:31337:0xa11ce00000000000000000000000000000000000"
"""A holder account that only ever holds off-chain USD (posted through the API)."""


def _ledger_store(cwd: Path):  # noqa: ANN202 - a LedgerStore on the server's SQLite file
    from ledger import Database
    from ledger.chart import platform_store

    return platform_store(Database(f"sqlite:///{cwd}/.kogi/kogi.db"))


def test_a_lost_chain_is_recovered_keeping_the_off_chain_ledger(tmp_path: Path) -> None:
    """Off-chain entries (the API) and mirrored ones (the demo's chain); then every copy of the chain
    state is lost. The next start refuses in one line naming `kogi chain recover`; the recovery
    reverses the mirrored entries (balances back to zero), keeps the off-chain ones, `kogi ledger
    verify` stays ok, and the next start mirrors a fresh chain. The demo finds the chain from the
    server's /health: `--api-url` alone, no KOGI_CHAIN_PORT."""
    require_binary("anvil", [str(ANVIL)])
    port, chain_port = free_port(), free_port()
    _post_off_chain_then_run_the_demo(tmp_path, port, chain_port)
    before = _ledger_before_the_loss(tmp_path)
    _lose_the_chain_then_recover(tmp_path, port, chain_port, before)
    _assert_mirrored_reversed_and_off_chain_kept(tmp_path, before)
    _assert_a_fresh_chain_is_mirrored_and_reconciles(tmp_path, port, chain_port)


@dataclass(frozen=True)
class _LedgerBeforeTheLoss:
    entries: list[Entry]
    mirrored: list[Entry]
    mirrored_pairs: set[tuple[str, str]]
    off_chain: dict[tuple[str, str], int]


def _post_off_chain_then_run_the_demo(tmp_path: Path, port: int, chain_port: int) -> None:
    """An off-chain deposit through the API, then the demo (found from /health, no KOGI_CHAIN_PORT)."""
    import httpx

    from tests.kogi_processes import kogi

    server = KogiServer(tmp_path, port, chain_port).start()
    try:
        assert server.health_chain()["rpc_url"] == f"http://127.0.0.1:{chain_port}"
        key = (tmp_path / ".kogi" / "admin_api_key").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        api = f"{server.url}/v1/ledger/main"
        for path, body in (
            ("assets", {"code": "USD", "scale": 2, "kind": "fiat"}),
            ("accounts", {"code": "external:bank", "accounting_type": "asset"}),
        ):
            response = httpx.post(f"{api}/{path}", json=body, headers=headers, timeout=30)
            assert response.status_code == 201, response.text
        response = httpx.post(
            f"{api}/entries",
            headers={**headers, "Idempotency-Key": "dep-1"},
            timeout=30,
            json={
                "kind": "deposit",
                "transfers": [{"from": "external:bank", "to": ALICE_OFF_CHAIN, "asset": "USD", "amount": "125.00"}],
            },
        )
        assert response.status_code == 201, response.text

        no_chain_port = kogi_env(chain_port)
        del no_chain_port["KOGI_CHAIN_PORT"]
        demo = kogi(["demo", "--api-url", server.url, "--timeout-s", "60"], tmp_path, no_chain_port)
        assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
        assert f"Kogi demo on chain 31337 (http://127.0.0.1:{chain_port})" in demo.stdout
    finally:
        assert server.stopped_cleanly(), server.log.read_text()[-3000:]


def _ledger_before_the_loss(tmp_path: Path) -> _LedgerBeforeTheLoss:
    """The mirrored entries hold balances; the one off-chain entry is Alice's deposit."""
    store = _ledger_store(tmp_path)
    try:
        entries = store.list_entries("main", limit=1000)
        mirrored = [entry for entry in entries if entry.idempotency_key.startswith("31337:0x")]
        assert len(mirrored) >= 10 and len(entries) == len(mirrored) + 1
        mirrored_pairs = {(leg.account, leg.asset) for entry in mirrored for leg in entry.legs}
        assert any(store.get_balance("main", *pair).posted_units for pair in mirrored_pairs)
        off_chain = {
            pair: store.get_balance("main", *pair).posted_units
            for pair in ((ALICE_OFF_CHAIN, "USD"), ("external:bank", "USD"))
        }
        assert off_chain[(ALICE_OFF_CHAIN, "USD")] == 12_500
    finally:
        store.db.dispose()
    return _LedgerBeforeTheLoss(entries, mirrored, mirrored_pairs, off_chain)


def _lose_the_chain_then_recover(tmp_path: Path, port: int, chain_port: int, before: _LedgerBeforeTheLoss) -> None:
    """Every copy of the chain state is lost: the next start refuses in one line, the recovery reverses
    the mirrored entries and `kogi ledger verify` stays ok."""
    from tests.kogi_processes import kogi, one_error_line

    for copy in (tmp_path / ".kogi").glob("anvil-state.json*"):
        if not copy.name.endswith(".lock"):
            copy.unlink()  # the chain is lost; the database remains
    line = one_error_line(["serve", "--port", str(port)], tmp_path, kogi_env(chain_port))
    assert "the ledger mirrors chain 31337 up to block" in line and "`kogi chain recover`" in line, line
    assert not port_open(chain_port), "the refused start left anvil running"

    recovered = kogi(["chain", "recover", "--yes"], tmp_path, kogi_env(chain_port))
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert f"ledger 'main': {len(before.mirrored)} entries reversed" in recovered.stdout
    verify = kogi(["ledger", "verify"], tmp_path, kogi_env(chain_port))
    assert verify.returncode == 0, verify.stdout + verify.stderr


def _assert_mirrored_reversed_and_off_chain_kept(tmp_path: Path, before: _LedgerBeforeTheLoss) -> None:
    store = _ledger_store(tmp_path)
    try:
        assert {pair: store.get_balance("main", *pair).posted_units for pair in before.mirrored_pairs} == dict.fromkeys(
            before.mirrored_pairs, 0
        )
        assert {pair: store.get_balance("main", *pair).posted_units for pair in before.off_chain} == before.off_chain
        assert store.head("main")[0] == len(before.entries) + len(before.mirrored)  # reversed, nothing deleted
    finally:
        store.db.dispose()


def _assert_a_fresh_chain_is_mirrored_and_reconciles(tmp_path: Path, port: int, chain_port: int) -> None:
    from tests.kogi_processes import kogi

    server = KogiServer(tmp_path, port, chain_port).start()  # a fresh chain, deployed and mirrored
    try:
        deadline = time.monotonic() + 60
        while (chain := server.health_chain())["indexed_block"] is None or chain["lag_blocks"] != 0:
            assert chain["error"] is None and time.monotonic() < deadline, chain
            time.sleep(0.2)
        assert chain["indexer_running"] is True and chain["indexed_block"] == chain["head_block"] > 0
        reconcile = kogi(["reconcile", "--rpc-url", f"http://127.0.0.1:{chain_port}"], tmp_path, kogi_env(chain_port))
        assert reconcile.returncode == 0, reconcile.stdout[-2000:] + reconcile.stderr[-2000:]
    finally:
        assert server.stopped_cleanly(), server.log.read_text()[-3000:]


class _HealthOnlyApi:
    """The API as far as the demo gets before the chain vanishes: /health answers."""

    def __init__(self, base_url: str, key: str) -> None:
        import httpx

        self.http = httpx.Client(
            transport=httpx.MockTransport(lambda request: httpx.Response(200, json={"status": "ok", "chains": []})),
            base_url=base_url,
        )


def test_demo_reports_a_chain_that_vanishes_mid_story_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    import api.cli.demo as cli_demo
    from api.cli import app
    from contracts.anvil import AnvilProcess
    from contracts.core import deploy_core
    from contracts.manifest import write_manifest

    require_binary("anvil", [str(ANVIL)])
    anvil = AnvilProcess(port=free_port()).start()
    try:
        w3 = anvil.web3()
        accounts = w3.eth.accounts
        manifest = write_manifest(
            deploy_core(w3, accounts[0], compliance_signer=accounts[9], fee_recipient=accounts[8], arbiter=accounts[6]),
            tmp_path / "31337.json",
        )
        steps: list[str] = []
        real_step = cli_demo._step

        def step_then_vanish(text: str) -> None:
            steps.append(text)
            real_step(text)
            if len(steps) == 3:  # after KYC and the portfolio: the chain goes away
                anvil.stop()

        monkeypatch.setattr(cli_demo, "_step", step_then_vanish)
        monkeypatch.setattr(cli_demo, "_Api", _HealthOnlyApi)
        for name in [key for key in os.environ if key.startswith("KOGI_")]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("KOGI_ADMIN_API_KEY", "k" * 32)
        result = CliRunner().invoke(
            app, ["demo", "--api-url", "http://kogi.test", "--rpc-url", anvil.rpc_url, "--manifest", str(manifest)]
        )
    finally:
        anvil.stop()
    assert result.exit_code == 1, result.output
    assert len(steps) == 3 and "Traceback" not in result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("kogi: error: the demo stopped: ConnectionError: ") and last.endswith(
        f"(chain {anvil.rpc_url}, API http://kogi.test: is `make run` still running?)"
    ), last
