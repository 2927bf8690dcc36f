"""Holds (two-phase transfers): reserve, post all or part, void, expire."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response

from api.links import ENTRY_CREATED, HOLD_CREATED, created
from api.routes.common import (
    HoldIdPath,
    IdempotencyKey,
    LedgerPath,
    OptionalIdempotencyKey,
    Scales,
    Store,
    amount_units_of,
    checked_decimal,
)
from api.routes.entries import REPLAY_RESPONSE
from api.schemas import (
    EntryOut,
    HoldExpireOut,
    HoldIn,
    HoldOut,
    HoldPostIn,
    entry_out,
    hold_out,
)

router = APIRouter(tags=["holds"])

HOLD_REPLAY: dict[int | str, dict[str, Any]] = {
    200: {"model": HoldOut, "description": "Replay: the hold created earlier under this key."},
}


@router.post(
    "/{ledger}/holds",
    status_code=201,
    response_model=HoldOut,
    responses={**HOLD_REPLAY, **created("Reserved now.", HOLD_CREATED)},
)
def create_hold(
    ledger: LedgerPath,
    body: HoldIn,
    idempotency_key: IdempotencyKey,
    response: Response,
    store: Store,
    scales: Scales,
) -> HoldOut:
    """Reserve an amount moving `from` -> `to`: it stops counting as available on `from`
    (and is checked against its overdraft rule) until posted, voided or expired."""
    scale = scales.of(ledger, body.asset)
    hold = store.create_hold(
        ledger,
        idempotency_key=idempotency_key,
        debit_account=body.from_account,
        credit_account=body.to_account,
        asset=body.asset,
        amount_units=amount_units_of(body, lambda _: scale, body.asset),
        expires_at=body.expires_at,
        kind=body.kind,
        metadata=body.metadata,
    )
    if hold.replayed:
        response.status_code = 200
    return hold_out(hold, scale)


# Declared before /holds/{hold_id:hexid}... so that "expire" is never read as a hold id.
@router.post("/{ledger}/holds/expire", response_model=HoldExpireOut)
def expire_holds(
    ledger: LedgerPath,
    store: Store,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1_000,
) -> HoldExpireOut:
    """Admin sweep: release pending holds whose expiry has passed by the server's clock. No caller can
    name another time: a hold is never expired before its `expires_at`."""
    return HoldExpireOut(expired=store.expire_holds(ledger, limit=limit))


@router.get("/{ledger}/holds/{hold_id:hexid}", response_model=HoldOut)
def get_hold(ledger: LedgerPath, hold_id: HoldIdPath, store: Store, scales: Scales) -> HoldOut:
    hold = store.get_hold(ledger, hold_id)
    return hold_out(hold, scales.of(ledger, hold.asset))


@router.post(
    "/{ledger}/holds/{hold_id:hexid}/post",
    status_code=201,
    response_model=EntryOut,
    responses={**REPLAY_RESPONSE, **created("The posted entry.", ENTRY_CREATED)},
)
def post_hold(
    ledger: LedgerPath,
    hold_id: HoldIdPath,
    response: Response,
    store: Store,
    scales: Scales,
    idempotency_key: OptionalIdempotencyKey = None,
    body: Annotated[HoldPostIn | None, Body()] = None,
) -> EntryOut:
    """Post all of a pending hold (no amount) or part of it; the rest is released.
    Returns the journal entry; the hold becomes `posted`."""
    body = body or HoldPostIn()
    amount_units: int | None = None
    if body.amount_units is not None:
        amount_units = int(body.amount_units)
    elif body.amount is not None:
        amount_units = checked_decimal(body.amount, scales.of(ledger, store.get_hold(ledger, hold_id).asset))
    entry = store.post_hold(
        ledger, hold_id, amount_units=amount_units, idempotency_key=idempotency_key, metadata=body.metadata
    )
    if entry.replayed:
        response.status_code = 200
    return entry_out(entry, scales.for_ledger(ledger))


@router.post("/{ledger}/holds/{hold_id:hexid}/void", response_model=HoldOut)
def void_hold(ledger: LedgerPath, hold_id: HoldIdPath, store: Store, scales: Scales) -> HoldOut:
    """Release a pending hold without posting. Voiding a voided hold returns it unchanged."""
    hold = store.void_hold(ledger, hold_id)
    return hold_out(hold, scales.of(ledger, hold.asset))
