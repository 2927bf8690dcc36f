"""The alert outbox: record (deduplicated while open), list, acknowledge; `kogi indexer alerts`;
/health reports open alerts per chain and turns "degraded" on a critical one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli.indexer import indexer_app
from indexer.alerts import (
    AlertAlreadyAcknowledged,
    AlertNotFound,
    acknowledge,
    list_alerts,
    open_alerts,
    record_alert,
)
from indexer.state import IndexerState
from tests.indexer.conftest import migrated

CHAIN = 990_002
DETAILS = {"last_block": 120, "ancestor": None, "confirmations": 5, "head": 130}


def test_record_dedupes_open_alerts_and_acknowledge_closes_them(database_url: str) -> None:
    database = migrated(database_url)
    try:
        first = record_alert(database, CHAIN, "reorg_too_deep", "chain: reorg too deep", DETAILS)
        # a follower restarted in a loop on the same reorg: same row (key order does not matter)
        again = record_alert(
            database, CHAIN, "reorg_too_deep", "another wording", dict(reversed(list(DETAILS.items())))
        )
        assert again == first
        # ... while the chain keeps growing: the head is not part of the reorg's identity
        assert record_alert(database, CHAIN, "reorg_too_deep", "later", {**DETAILS, "head": 140}) == first
        other = record_alert(database, CHAIN, "reorg_too_deep", "another reorg", {**DETAILS, "last_block": 150})
        assert other != first
        elsewhere = record_alert(database, CHAIN + 1, "reorg_too_deep", "other chain", DETAILS, severity="warning")

        (alert, second) = open_alerts(database, CHAIN)
        assert (alert.id, alert.kind, alert.severity, alert.message) == (
            first,
            "reorg_too_deep",
            "critical",
            "chain: reorg too deep",
        )
        assert alert.details == DETAILS and alert.open and alert.created_at.tzinfo is not None
        assert second.id == other
        assert [a.id for a in open_alerts(database)] == [first, other, elsewhere]

        done = acknowledge(database, first, "alice")
        assert done.acknowledged_by == "alice" and done.acknowledged_at is not None and not done.open
        assert [a.id for a in open_alerts(database, CHAIN)] == [other]
        assert [a.id for a in list_alerts(database, chain_id=CHAIN, include_acknowledged=True)] == [first, other]
        with pytest.raises(AlertAlreadyAcknowledged, match="already acknowledged by alice"):
            acknowledge(database, first, "bob")
        with pytest.raises(AlertNotFound, match="no alert with id 424242"):
            acknowledge(database, 424242, "bob")
        with pytest.raises(ValueError):
            acknowledge(database, other, "  ")

        # the same failure after an acknowledgement is a new event
        assert record_alert(database, CHAIN, "reorg_too_deep", "back again", DETAILS) not in (first, other)
        # kinds without identity keys compare all details, unless the caller names the keys
        stuck = record_alert(database, CHAIN, "rpc_stuck", "m", {"block": 1, "seen": 2})
        assert record_alert(database, CHAIN, "rpc_stuck", "m", {"block": 1, "seen": 3}) != stuck
        assert record_alert(database, CHAIN, "rpc_stuck", "m", {"block": 1, "seen": 4}, dedupe_on=["block"]) == stuck
        with pytest.raises(ValueError, match="severity"):
            record_alert(database, CHAIN, "x", "y", {}, severity="loud")
    finally:
        database.dispose()


def kogi_app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(indexer_app, name="indexer")
    return app


def test_cli_lists_and_acknowledges(sqlite_url: str) -> None:
    database = migrated(sqlite_url)
    try:
        alert_id = record_alert(database, CHAIN, "reorg_too_deep", "chain 990002: reorg too deep", DETAILS)
    finally:
        database.dispose()
    runner, app = CliRunner(), kogi_app()
    db = ["--database-url", sqlite_url]

    listed = runner.invoke(app, ["indexer", "alerts", *db])
    assert listed.exit_code == 0, listed.output
    assert f"#{alert_id} " in listed.output and "reorg_too_deep [open]: chain 990002: reorg too deep" in listed.output

    as_json = runner.invoke(app, ["indexer", "alerts", "--json", *db])
    assert as_json.exit_code == 0, as_json.output
    (row,) = json.loads(as_json.output)
    assert row["id"] == alert_id and row["details"] == DETAILS and row["acknowledged_at"] is None

    missing_by = runner.invoke(app, ["indexer", "alerts", "--ack", str(alert_id), *db])
    assert missing_by.exit_code == 1 and "--by" in missing_by.output

    acked = runner.invoke(app, ["indexer", "alerts", "--ack", str(alert_id), "--by", "alice", *db])
    assert acked.exit_code == 0, acked.output
    assert f"alert {alert_id} (reorg_too_deep, chain {CHAIN}) acknowledged by alice" in acked.output

    assert "no open alerts" in runner.invoke(app, ["indexer", "alerts", *db]).output
    everything = runner.invoke(app, ["indexer", "alerts", "--all", *db])
    assert everything.exit_code == 0 and "[acknowledged by alice]" in everything.output

    again = runner.invoke(app, ["indexer", "alerts", "--ack", str(alert_id), "--by", "bob", *db])
    assert again.exit_code == 1
    (line,) = again.output.strip().splitlines()  # one readable line
    assert line.startswith(f"kogi: error: alert {alert_id} was already acknowledged by alice at ")
    unknown = runner.invoke(app, ["indexer", "alerts", "--ack", "999", "--by", "bob", *db])
    assert unknown.exit_code == 1 and unknown.output.strip() == "kogi: error: no alert with id 999"


def test_health_reports_open_alerts_and_degrades(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.app import create_app
    from api.settings import ApiSettings

    monkeypatch.setenv("KOGI_EMBEDDED_CHAIN", "false")
    settings = ApiSettings(
        database_url=sqlite_url,
        admin_api_key="test-admin-key-" + "k" * 24,
        admin_api_key_file=tmp_path / "admin_api_key",
        embedded_chain=False,
    )
    with TestClient(create_app(settings)) as client:
        database = client.app.state.database  # type: ignore[attr-defined]
        IndexerState(database, CHAIN).start(41, "0x" + "ab" * 32, "0x" + "cd" * 32)
        assert client.get("/health").json()["status"] == "ok"

        warning = record_alert(
            database, CHAIN + 1, "rpc_flapping", "heads going back and forth", {}, severity="warning"
        )
        body = client.get("/health").json()
        assert body["status"] == "ok"  # only critical alerts degrade
        (row,) = [chain for chain in body["chains"] if chain["chain_id"] == CHAIN + 1]
        assert row["open_alerts"] == 1 and row["alerts"][0]["id"] == warning and row["indexed_block"] is None

        alert_id = record_alert(database, CHAIN, "reorg_too_deep", "reorg too deep", DETAILS)
        response = client.get("/health")
        assert response.status_code == 200 and response.json()["status"] == "degraded"
        (row,) = [chain for chain in response.json()["chains"] if chain["chain_id"] == CHAIN]
        assert row["indexed_block"] == 41 and row["open_alerts"] == 1
        assert [(a["id"], a["kind"], a["severity"]) for a in row["alerts"]] == [
            (alert_id, "reorg_too_deep", "critical")
        ]

        acknowledge(database, alert_id, "alice")
        body = client.get("/health").json()
        assert body["status"] == "ok"
        (row,) = [chain for chain in body["chains"] if chain["chain_id"] == CHAIN]
        assert row["open_alerts"] == 0 and row["alerts"] == []
