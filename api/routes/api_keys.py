"""API keys of other platform services (issue 11 §2): `POST /v1/api-keys` (the key is returned once),
`GET /v1/api-keys` (no secrets; with last use), `DELETE /v1/api-keys/{key_id}` (revoke).

Who may call them is the access table's business (services/access.py: platform_admin), enforced by
the request guard; each route calls one `ApiKeyService` method (services/api_keys.py).

No Idempotency-Key: the ledger's idempotency lives inside its journal (the entry is the stored
response), and a replayed creation would have to return the secret again, which is never stored.
A client that loses the answer lists the keys, revokes the unnamed one and creates another.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api.auth import audit_context, authenticated
from api.problems import API_KEY_PROBLEM_RESPONSES, PROBLEM_RESPONSES
from api.routes.common import API_DEFAULT_PAGE_SIZE, CursorQuery
from api.schemas import ID_PATTERN, ApiKeyCreatedOut, ApiKeyIn, ApiKeyList, ApiKeyOut
from ledger.cursor import decode_cursor, encode_cursor
from ledger.errors import InvalidCursor
from services.access import Caller
from services.api_keys import MAX_KEYS_PER_PAGE, ApiKeyInfo, ApiKeyService
from services.audit import AuditContext

router = APIRouter(tags=["api-keys"], responses=API_KEY_PROBLEM_RESPONSES)
CURSOR_KIND = "api-key"
KeyIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="The key's id (32 hex digits).")]


def api_key_service(request: Request) -> ApiKeyService:
    service: ApiKeyService = request.app.state.api_keys
    return service


Keys = Annotated[ApiKeyService, Depends(api_key_service)]
Admin = Annotated[Caller, Depends(authenticated)]
Audit = Annotated[AuditContext, Depends(audit_context)]


def key_out(info: ApiKeyInfo) -> ApiKeyOut:
    return ApiKeyOut(
        id=info.key_id,
        name=info.name,
        scopes=list(info.scopes),
        expires_at=info.expires_at,
        created_at=info.created_at,
        last_used_at=info.last_used_at,
        revoked_at=info.revoked_at,
    )


@router.post("/v1/api-keys", status_code=201, response_model=ApiKeyCreatedOut)
def create_api_key(body: ApiKeyIn, caller: Admin, audit: Audit, keys: Keys, response: Response) -> ApiKeyCreatedOut:
    """Create a key for another platform service. The key is in this answer only (never stored);
    the audit log records the creation (`api_key.created`) in the same transaction."""
    created = keys.create(body.name, body.scopes, body.expires_at, audit)
    response.headers["Cache-Control"] = "no-store"
    info = created.info
    return ApiKeyCreatedOut(
        id=info.key_id,
        key=created.key,
        name=info.name,
        scopes=list(info.scopes),
        expires_at=info.expires_at,
        created_at=info.created_at,
    )


@router.get("/v1/api-keys", response_model=ApiKeyList)
def list_api_keys(
    caller: Admin,
    keys: Keys,
    cursor: CursorQuery = None,
    limit: Annotated[int, Query(ge=1, le=MAX_KEYS_PER_PAGE)] = API_DEFAULT_PAGE_SIZE,
) -> ApiKeyList:
    """Every key, revoked and expired ones included, in creation order (cursor-paginated); no secrets."""
    after = decode_cursor(CURSOR_KIND, cursor) if cursor else None
    if after is not None and (len(after) != 32 or not all(c in "0123456789abcdef" for c in after)):
        raise InvalidCursor("cursor is not valid: pass back a next_cursor unchanged")
    page = keys.list_keys(after_key_id=after, limit=limit)
    next_cursor = encode_cursor(CURSOR_KIND, page.next_after) if page.next_after else None
    return ApiKeyList(items=[key_out(info) for info in page.items], next_cursor=next_cursor)


@router.delete("/v1/api-keys/{key_id}", response_model=ApiKeyOut, responses={404: PROBLEM_RESPONSES[404]})
def revoke_api_key(key_id: KeyIdPath, caller: Admin, audit: Audit, keys: Keys) -> ApiKeyOut:
    """Revoke a key: from now on it is refused (401 `api-key-revoked`); audited as `api_key.revoked`.
    Revoking it again changes nothing."""
    return key_out(keys.revoke(key_id, audit))
