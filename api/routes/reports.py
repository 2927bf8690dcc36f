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
    effective_as_of: Annotated[
        Timestamp | None,
        Query(
            description="Posted balance of the entries effective at or before this time, back-dated ones included "
            "(RFC 3339); `as_of_sequence` in the answer is the last sequence read."
        ),
    ] = None,
) -> BalanceOut:
    """Current balance (posted, pending, available, version), or the posted balance as of a
    sequence number, a recorded time or an effective time (history has no pending part)."""
    if sum(value is not None for value in (as_of_sequence, as_of, effective_as_of)) > 1:
        raise ApiProblem(
            422,
            "conflicting-parameters",
            "Conflicting parameters",
            "give at most one of as_of_sequence, as_of and effective_as_of",
        )
    balance = store.get_balance(
        ledger, code, asset, as_of_sequence=as_of_sequence, as_of=as_of, effective_as_of=effective_as_of
    )
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
    effective_start: Annotated[Timestamp | None, Query(description="Effective at or after (RFC 3339).")] = None,
    effective_end: Annotated[Timestamp | None, Query(description="Effective before (RFC 3339).")] = None,
    cursor: CursorQuery = None,
    limit: Annotated[int, Query(ge=1, le=API_MAX_PAGE_SIZE)] = API_DEFAULT_PAGE_SIZE,
) -> StatementOut:
    """Postings of one (account, asset) with the running balance, in sequence order, cursor-paginated:
    recorded in [start, end), or effective in [effective_start, effective_end) — then the opening
    balance sums the postings effective before the window and each line's balance is that opening
    plus the window's lines so far (back-dated entries land in their period)."""
    if (start is not None or end is not None) and (effective_start is not None or effective_end is not None):
        raise ApiProblem(
            422,
            "conflicting-parameters",
            "Conflicting parameters",
            "give either start/end (recorded time) or effective_start/effective_end",
        )
    page = store.statement(
        ledger,
        code,
        asset,
        start=start,
        end=end,
        effective_start=effective_start,
        effective_end=effective_end,
        cursor=cursor,
        limit=limit,
    )
    return statement_out(page, scales.of(ledger, asset))


@router.get("/{ledger}/trial-balance", response_model=TrialBalanceOut, tags=["reports"])
def get_trial_balance(
    ledger: LedgerPath,
    store: Store,
    scales: Scales,
    as_of_sequence: Annotated[int | None, Query(ge=0, le=MAX_API_INTEGER)] = None,
    effective_as_of: Annotated[
        Timestamp | None, Query(description="Over the entries effective at or before this time (RFC 3339).")
    ] = None,
) -> TrialBalanceOut:
    """Σ debits and Σ credits per (asset, accounting type) and per asset; equal when sound."""
    if as_of_sequence is not None and effective_as_of is not None:
        raise ApiProblem(
            422,
            "conflicting-parameters",
            "Conflicting parameters",
            "give at most one of as_of_sequence and effective_as_of",
        )
    report = store.trial_balance(ledger, as_of_sequence=as_of_sequence, effective_as_of=effective_as_of)
    return trial_balance_out(report, scales.for_ledger(ledger))


@router.get("/{ledger}/verify", response_model=VerifyOut, tags=["reports"])
def verify(ledger: LedgerPath, store: Store) -> VerifyOut:
    """Recompute the hash chain and balances; `ok` false names the first bad entry."""
    return verify_out(store.verify(ledger))
