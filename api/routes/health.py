"""`GET /health`: public liveness + readiness (database reachable, default ledger head) and, per
chain mirrored in the database, the indexer's progress: indexed block, chain head, lag in blocks,
and its open alerts (indexer/alerts.py). An open critical alert turns the status to "degraded"
(still HTTP 200: the API serves; a human must look at the indexer, e.g. after a too-deep reorg), and
so does an in-process indexer that is not advancing although it runs: `indexer_state`
waiting_for_lease (another owner's lease, e.g. after a kill -9) or backing_off (RPC errors, a
flapping chain), with `indexer_reason` saying why."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from sqlalchemy.exc import SQLAlchemyError

from api.routes.common import Store
from api.schemas import HealthAlert, HealthChain, HealthDatabase, HealthLedger, HealthOut
from ledger.errors import LedgerNotFound

log = logging.getLogger("kogi.api")

router = APIRouter(tags=["health"])

NOT_ADVANCING = ("waiting_for_lease", "backing_off")
"""Indexer states that make /health "degraded": the thread runs but the mirror does not advance."""


def _chains(request: Request, store: Store) -> list[HealthChain]:
    """Cursors and open alerts from the database (any indexer writing to it: indexer.state.chain_progress);
    head and lag for the chain this process indexes itself (embedded mode). Never raises: /health
    stays 200 while the database answers."""
    from indexer.state import chain_progress

    progress = chain_progress(store.db)
    chains = {
        row.chain_id: HealthChain(
            chain_id=row.chain_id,
            indexed_block=row.indexed_block,
            head_block=None,
            lag_blocks=None,
            indexer_running=None,
        )
        for row in progress
    }
    chain = getattr(request.app.state, "chain", None)
    status = chain.status() if chain is not None else None
    if status is not None:
        chains[status.chain_id] = HealthChain(
            chain_id=status.chain_id,
            indexed_block=status.indexed_block,
            head_block=status.head_block,
            lag_blocks=status.lag_blocks,
            indexer_running=status.indexer_running,
            error=status.error,
            indexer_state=status.indexer_state,
            indexer_reason=status.indexer_reason,
            indexer_until=status.indexer_until,
            rpc_url=status.rpc_url,
        )
    for row in progress:
        if row.open_alerts:
            chains[row.chain_id].alerts = [
                HealthAlert(
                    id=alert.id,
                    kind=alert.kind,
                    severity=alert.severity,
                    message=alert.message,
                    created_at=alert.created_at,
                )
                for alert in row.open_alerts
            ]
            chains[row.chain_id].open_alerts = len(row.open_alerts)
    return [chains[key] for key in sorted(chains)]


@router.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
def health(request: Request, response: Response, store: Store) -> HealthOut:
    """Public: 200 when the database answers, 503 otherwise. No authentication.

    `chains` lists every chain mirrored in this database with the indexed block and its open
    alerts; head and lag are filled for the chain the embedded stack indexes (null when unknown).
    `status` is "degraded" while any chain has an open critical alert or this process's indexer
    waits for a lease or backs off (`indexer_state`, `indexer_reason`)."""
    ledger = request.app.state.settings.default_ledger
    try:
        head_sequence: int | None = store.head(ledger)[0]
        reachable = True
    except LedgerNotFound:
        head_sequence, reachable = None, True
    except SQLAlchemyError as exc:
        log.warning("health check: database unreachable: %s", exc)
        head_sequence, reachable = None, False
    if not reachable:
        response.status_code = 503
    chains = _chains(request, store) if reachable else []
    critical = any(alert.severity == "critical" for chain in chains for alert in chain.alerts)
    critical = critical or any(chain.indexer_state in NOT_ADVANCING for chain in chains)
    return HealthOut(
        status="unavailable" if not reachable else "degraded" if critical else "ok",
        database=HealthDatabase(reachable=reachable),
        ledger=HealthLedger(code=ledger, head_sequence=head_sequence),
        chains=chains,
    )
