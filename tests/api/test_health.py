"""/health reports, per chain mirrored in the database, the indexed block, the head and the lag."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.embedded_chain import ChainStatus
from indexer.state import IndexerState

CHAIN_ID = 990_001


class _FakeChain:
    """Stands in for the embedded stack (api/embedded_chain.py); tests/test_demo.py runs the real one."""

    def __init__(self, status: ChainStatus) -> None:
        self._status = status

    def status(self) -> ChainStatus:
        return self._status


def test_health_lists_indexed_chains_with_head_and_lag(client: TestClient) -> None:
    app = client.app
    IndexerState(app.state.database, CHAIN_ID).start(41, "0x" + "ab" * 32, "0x" + "cd" * 32)
    public = TestClient(app)

    body = public.get("/health").json()
    (row,) = [chain for chain in body["chains"] if chain["chain_id"] == CHAIN_ID]
    assert row == {
        "chain_id": CHAIN_ID,
        "indexed_block": 41,
        "head_block": None,
        "lag_blocks": None,
        "indexer_running": None,
        "error": None,
        "open_alerts": 0,
        "alerts": [],
        "indexer_state": None,
        "indexer_reason": None,
        "indexer_until": None,
        "rpc_url": None,
    }  # indexed elsewhere: no head known here

    app.state.chain = _FakeChain(ChainStatus(CHAIN_ID, 41, 48, 7, True, None))
    try:
        response = public.get("/health")
        assert response.status_code == 200
        (row,) = [chain for chain in response.json()["chains"] if chain["chain_id"] == CHAIN_ID]
        assert row == {
            "chain_id": CHAIN_ID,
            "indexed_block": 41,
            "head_block": 48,
            "lag_blocks": 7,
            "indexer_running": True,
            "error": None,
            "open_alerts": 0,
            "alerts": [],
            "indexer_state": None,
            "indexer_reason": None,
            "indexer_until": None,
            "rpc_url": None,
        }

        app.state.chain = _FakeChain(ChainStatus(CHAIN_ID, 41, None, None, False, "ReorgTooDeep: boom"))
        response = public.get("/health")
        assert response.status_code == 200 and response.json()["status"] == "ok"  # the database answers
        (row,) = [chain for chain in response.json()["chains"] if chain["chain_id"] == CHAIN_ID]
        assert row["indexer_running"] is False and row["error"] == "ReorgTooDeep: boom" and row["lag_blocks"] is None
    finally:
        app.state.chain = None
