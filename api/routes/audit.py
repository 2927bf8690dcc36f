"""The audit log (issue 11 §4): `GET /v1/audit` (platform_admin; compliance when that role lands), filtered
by action and actor, cursor-paginated in chain order. Records are written by the privileged use cases
themselves (services/audit.py), never through this API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api.auth import authenticated
from api.problems import API_KEY_PROBLEM_RESPONSES
from api.routes.common import API_DEFAULT_PAGE_SIZE, CursorQuery
from api.schemas import AUDIT_ACTION_PATTERN, AUDIT_ACTOR_PATTERN, AuditList, AuditRecordOut
from ledger.cursor import decode_cursor, encode_cursor
from services.access import Caller
from services.audit import MAX_AUDIT_PAGE, AuditLog

router = APIRouter(tags=["audit"], responses=API_KEY_PROBLEM_RESPONSES)
CURSOR_KIND = "audit"


def audit_log(request: Request) -> AuditLog:
    log: AuditLog = request.app.state.audit
    return log


@router.get("/v1/audit", response_model=AuditList)
def list_audit_records(
    caller: Annotated[Caller, Depends(authenticated)],
    log: Annotated[AuditLog, Depends(audit_log)],
    action: Annotated[str | None, Query(pattern=AUDIT_ACTION_PATTERN, max_length=64)] = None,
    actor: Annotated[str | None, Query(pattern=AUDIT_ACTOR_PATTERN, max_length=100)] = None,
    cursor: CursorQuery = None,
    limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_PAGE)] = API_DEFAULT_PAGE_SIZE,
) -> AuditList:
    """Audit records in chain order, optionally of one action and/or one actor."""
    after = int(decode_cursor(CURSOR_KIND, cursor, digits=True)) if cursor else 0
    page = log.list_records(action=action, actor=actor, after_sequence=after, limit=limit)
    return AuditList(
        items=[
            AuditRecordOut(
                sequence=record.sequence,
                id=record.record_id,
                recorded_at=record.recorded_at,
                tenant=record.tenant,
                actor=record.actor,
                action=record.action,
                target=record.target,
                before=record.before,
                after=record.after,
                request_id=record.request_id,
                ip=record.ip,
                hash=record.hash,
            )
            for record in page.items
        ],
        next_cursor=encode_cursor(CURSOR_KIND, str(page.next_after)) if page.next_after else None,
    )
