"""Balances (current and historical), account statements, trial balance, chain verification."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.problems import ApiProblem
from api.routes.common import (
    API_DEFAULT_PAGE_SIZE,
    API_MAX_PAGE_SIZE,
    AccountPath,
    AssetPath,
    CursorQuery,
    LedgerPath,
    Scales,
    Store,
)
from api.schemas import (
    MAX_API_INTEGER,
    AssetCode,
    BalanceOut,
    StatementOut,
    Timestamp,
    TrialBalanceOut,
    VerifyOut,
    balance_out,
    statement_out,
    trial_balance_out,
    verify_out,
)

router = APIRouter()


@router.get("/{ledger}/accounts/{code}/balances/{asset}", response_model=BalanceOut, tags=["balances"])
def get_balance(
    ledger: LedgerPath,
    code: AccountPath,
    asset: AssetPath,
    store: Store,
    scales: Scales,
    as_of_sequence: Annotated[
        int | None, Query(ge=0, le=MAX_API_INTEGER, description="Posted balance after this sequence.")
    ] = None,
    as_of: Annotated[Timestamp | None, Query(description="Posted balance at this recorded time (RFC 3339).")] = None,
) -> BalanceOut:
    """Current balance (posted, pending, available, version), or the posted balance as of a
    sequence number or a time (history has no pending part)."""
    if as_of_sequence is not None and as_of is not None:
        raise ApiProblem(422, "conflicting-parameters", "Conflicting parameters",
                         "give at most one of as_of_sequence and as_of")
    balance = store.get_balance(ledger, code, asset, as_of_sequence=as_of_sequence, as_of=as_of)
    return balance_out(balance, scales.of(ledger, asset))


@router.get("/{ledger}/accounts/{code}/statement", response_model=StatementOut, tags=["balances"])
def get_statement(
    ledger: LedgerPath,
    code: AccountPath,
    asset: Annotated[AssetCode, Query()],
    store: Store,
    scales: Scales,
    start: Annotated[Timestamp | None, Query(description="Recorded at or after (RFC 3339).")] = None,
    end: Annotated[Timestamp | None, Query(description="Recorded before (RFC 3339).")] = None,
    cursor: CursorQuery = None,
    limit: Annotated[int, Query(ge=1, le=API_MAX_PAGE_SIZE)] = API_DEFAULT_PAGE_SIZE,
) -> StatementOut:
    """Postings of one (account, asset) with the running balance, in sequence order, cursor-paginated."""
    page = store.statement(ledger, code, asset, start=start, end=end, cursor=cursor, limit=limit)
    return statement_out(page, scales.of(ledger, asset))


@router.get("/{ledger}/trial-balance", response_model=TrialBalanceOut, tags=["reports"])
def get_trial_balance(
    ledger: LedgerPath,
    store: Store,
    scales: Scales,
    as_of_sequence: Annotated[int | None, Query(ge=0, le=MAX_API_INTEGER)] = None,
) -> TrialBalanceOut:
    """Σ debits and Σ credits per (asset, accounting type) and per asset; equal when sound."""
    return trial_balance_out(store.trial_balance(ledger, as_of_sequence=as_of_sequence), scales.for_ledger(ledger))


@router.get("/{ledger}/verify", response_model=VerifyOut, tags=["reports"])
def verify(ledger: LedgerPath, store: Store) -> VerifyOut:
    """Recompute the hash chain and balances; `ok` false names the first bad entry."""
    return verify_out(store.verify(ledger))
