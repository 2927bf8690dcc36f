"""Ledgers, assets, accounts and account templates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.links import ACCOUNT_CREATED, ASSET_CREATED, LEDGER_CREATED, created
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
    CODE_PREFIX_PATTERN,
    AccountIn,
    AccountList,
    AccountOut,
    AccountTemplateIn,
    AccountTemplateList,
    AccountTemplateOut,
    AccountWithBalances,
    AssetIn,
    AssetList,
    AssetOut,
    LedgerIn,
    LedgerList,
    LedgerOut,
    account_out,
    asset_out,
    balance_out,
    template_out,
)
from ledger.cursor import decode_cursor, encode_cursor

router = APIRouter()


# ------------------------------------------------------------------ ledgers


@router.post(
    "/ledgers",
    status_code=201,
    response_model=LedgerOut,
    tags=["ledgers"],
    responses=created("Created, or already there.", LEDGER_CREATED),
)
def create_ledger(body: LedgerIn, store: Store) -> LedgerOut:
    """Create a ledger namespace. Idempotent: an existing code is returned as is."""
    return LedgerOut(code=store.create_ledger(body.code, body.name))


@router.get("/ledgers", response_model=LedgerList, tags=["ledgers"])
def list_ledgers(store: Store) -> LedgerList:
    return LedgerList(items=[LedgerOut(code=code) for code in store.list_ledgers()])


# ------------------------------------------------------------------- assets


@router.post(
    "/{ledger}/assets",
    status_code=201,
    response_model=AssetOut,
    tags=["assets"],
    responses=created("Registered, or already there with these attributes.", ASSET_CREATED),
)
def create_asset(ledger: LedgerPath, body: AssetIn, store: Store) -> AssetOut:
    """Register an asset. Idempotent for identical attributes; different ones are a 409."""
    return asset_out(
        store.create_asset(
            ledger, body.code, body.scale, body.kind, chain_id=body.chain_id, contract_address=body.contract_address
        )
    )


@router.get("/{ledger}/assets", response_model=AssetList, tags=["assets"])
def list_assets(ledger: LedgerPath, store: Store) -> AssetList:
    return AssetList(items=[asset_out(asset) for asset in store.list_assets(ledger)])


@router.get("/{ledger}/assets/{code}", response_model=AssetOut, tags=["assets"])
def get_asset(ledger: LedgerPath, code: AssetPath, store: Store) -> AssetOut:
    return asset_out(store.get_asset(ledger, code))


# ---------------------------------------------------------- account templates


@router.post("/{ledger}/account-templates", status_code=201, response_model=AccountTemplateOut, tags=["accounts"])
def create_account_template(ledger: LedgerPath, body: AccountTemplateIn, store: Store) -> AccountTemplateOut:
    """Accounts whose code matches `pattern` are opened with these attributes on first use."""
    return template_out(
        store.add_account_template(
            ledger, body.pattern, body.accounting_type, no_overdraft=body.no_overdraft, priority=body.priority
        )
    )


@router.get("/{ledger}/account-templates", response_model=AccountTemplateList, tags=["accounts"])
def list_account_templates(ledger: LedgerPath, store: Store) -> AccountTemplateList:
    return AccountTemplateList(items=[template_out(t) for t in store.list_account_templates(ledger)])


# ----------------------------------------------------------------- accounts


@router.post(
    "/{ledger}/accounts",
    status_code=201,
    response_model=AccountOut,
    tags=["accounts"],
    responses=created("Opened, or already there with these attributes.", ACCOUNT_CREATED),
)
def create_account(ledger: LedgerPath, body: AccountIn, store: Store) -> AccountOut:
    """Open an account. Idempotent for identical attributes; different ones are a 409."""
    return account_out(
        store.create_account(
            ledger, body.code, body.accounting_type, no_overdraft=body.no_overdraft, metadata=body.metadata
        )
    )


@router.get("/{ledger}/accounts", response_model=AccountList, tags=["accounts"])
def list_accounts(
    ledger: LedgerPath,
    store: Store,
    prefix: Annotated[
        str | None, Query(max_length=256, pattern=CODE_PREFIX_PATTERN, description="Only codes starting with this.")
    ] = None,
    cursor: CursorQuery = None,
    limit: Annotated[int, Query(ge=1, le=API_MAX_PAGE_SIZE)] = API_DEFAULT_PAGE_SIZE,
) -> AccountList:
    """Accounts in code order, cursor-paginated."""
    after = decode_cursor("account", cursor) if cursor else None
    accounts = store.list_accounts(ledger, prefix=prefix, after=after, limit=limit + 1)
    page = accounts[:limit]
    next_cursor = encode_cursor("account", page[-1].code) if len(accounts) > limit else None
    return AccountList(items=[account_out(account) for account in page], next_cursor=next_cursor)


@router.get("/{ledger}/accounts/{code}", response_model=AccountWithBalances, tags=["accounts"])
def get_account(ledger: LedgerPath, code: AccountPath, store: Store, scales: Scales) -> AccountWithBalances:
    """One account with its current balance in every asset it holds."""
    account = store.get_account(ledger, code)
    balances = store.list_balances(ledger, code)
    return AccountWithBalances(
        **account_out(account).model_dump(),
        balances=[balance_out(balance, scales.of(ledger, balance.asset)) for balance in balances],
    )
