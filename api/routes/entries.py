"""Journal entries: post (idempotent), read, list by sequence, reverse."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response

from api.links import ENTRY_CREATED, created
from api.routes.common import (
    API_DEFAULT_PAGE_SIZE,
    API_MAX_PAGE_SIZE,
    CursorQuery,
    EntryIdPath,
    IdempotencyKey,
    LedgerPath,
    OptionalIdempotencyKey,
    Scales,
    Store,
    amount_units_of,
)
from api.schemas import SIDES_IN, EntryIn, EntryList, EntryOut, ReversalIn, entry_out
from ledger.cursor import decode_cursor, encode_cursor
from ledger.model import EntryRequest, Leg, transfer_legs

router = APIRouter(tags=["entries"])

REPLAY_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"model": EntryOut, "description": "Replay: the entry recorded earlier under this key."},
}


def entry_request(body: EntryIn, idempotency_key: str, scale_of: Callable[[str], int]) -> EntryRequest:
    """Translate the HTTP body into the ledger's request, amounts resolved to base units."""
    legs: list[Leg] = []
    if body.postings is not None:
        for posting in body.postings:
            legs.append(
                Leg(
                    posting.account,
                    posting.asset,
                    SIDES_IN[posting.side],
                    amount_units_of(posting, scale_of, posting.asset),
                )
            )
    else:
        assert body.transfers is not None
        for transfer in body.transfers:
            legs.extend(
                transfer_legs(
                    transfer.from_account,
                    transfer.to_account,
                    transfer.asset,
                    amount_units_of(transfer, scale_of, transfer.asset),
                )
            )
    return EntryRequest(
        idempotency_key=idempotency_key,
        kind=body.kind,
        legs=tuple(legs),
        effective_at=body.effective_at,
        external_ref=body.external_ref,
        metadata=body.metadata,
    )


@router.post(
    "/{ledger}/entries",
    status_code=201,
    response_model=EntryOut,
    responses={**REPLAY_RESPONSE, **created("Recorded now.", ENTRY_CREATED)},
)
def post_entry(
    ledger: LedgerPath,
    body: EntryIn,
    idempotency_key: IdempotencyKey,
    response: Response,
    store: Store,
    scales: Scales,
) -> EntryOut:
    """Post a balanced entry. 201 when recorded now; 200 with the original entry when the same
    Idempotency-Key and body were posted before; 409 when the key was used for another body."""
    scale_of = scales.for_ledger(ledger)
    entry = store.post(ledger, entry_request(body, idempotency_key, scale_of))
    if entry.replayed:
        response.status_code = 200
    return entry_out(entry, scale_of)


@router.get("/{ledger}/entries", response_model=EntryList)
def list_entries(
    ledger: LedgerPath,
    store: Store,
    scales: Scales,
    cursor: CursorQuery = None,
    limit: Annotated[int, Query(ge=1, le=API_MAX_PAGE_SIZE)] = API_DEFAULT_PAGE_SIZE,
) -> EntryList:
    """Entries in sequence order, cursor-paginated."""
    after_sequence = int(decode_cursor("sequence", cursor, digits=True)) if cursor else 0
    entries = store.list_entries(ledger, after_sequence=after_sequence, limit=limit + 1)
    page = entries[:limit]
    next_cursor = encode_cursor("sequence", str(page[-1].sequence)) if len(entries) > limit else None
    scale_of = scales.for_ledger(ledger)
    return EntryList(items=[entry_out(entry, scale_of) for entry in page], next_cursor=next_cursor)


@router.get("/{ledger}/entries/{entry_id:hexid}", response_model=EntryOut)
def get_entry(ledger: LedgerPath, entry_id: EntryIdPath, store: Store, scales: Scales) -> EntryOut:
    return entry_out(store.get_entry(ledger, entry_id), scales.for_ledger(ledger))


@router.post(
    "/{ledger}/entries/{entry_id:hexid}/reversal",
    status_code=201,
    response_model=EntryOut,
    responses={**REPLAY_RESPONSE, **created("The reversal, recorded now.", ENTRY_CREATED)},
)
def reverse_entry(
    ledger: LedgerPath,
    entry_id: EntryIdPath,
    response: Response,
    store: Store,
    scales: Scales,
    idempotency_key: OptionalIdempotencyKey = None,
    body: Annotated[ReversalIn | None, Body()] = None,
) -> EntryOut:
    """Post the mirror of an entry, linked to it. An entry is reversed once: a second reversal
    with another key is a 409 `already-reversed`; the same key replays (200)."""
    body = body or ReversalIn()
    entry = store.reverse(
        ledger, entry_id, idempotency_key=idempotency_key, reason=body.reason, effective_at=body.effective_at
    )
    if entry.replayed:
        response.status_code = 200
    return entry_out(entry, scales.for_ledger(ledger))
