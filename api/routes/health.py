"""`GET /health`: public liveness + readiness (database reachable, default ledger head)."""
from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from sqlalchemy.exc import SQLAlchemyError

from api.routes.common import Store
from api.schemas import HealthDatabase, HealthLedger, HealthOut
from ledger.errors import LedgerNotFound

log = logging.getLogger("kogi.api")

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
def health(request: Request, response: Response, store: Store) -> HealthOut:
    """Public: 200 when the database answers, 503 otherwise. No authentication."""
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
    return HealthOut(
        status="ok" if reachable else "unavailable",
        database=HealthDatabase(reachable=reachable),
        ledger=HealthLedger(code=ledger, head_sequence=head_sequence),
    )
