"""Shared route plumbing: the store dependency, asset scales, amounts, idempotency keys.

Cursors are ledger.cursor's (one codec for the ledger's statements and the API's lists)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request
from starlette.convertors import Convertor, register_url_convertor

from api.problems import ApiProblem
from api.schemas import (
    ASSET_CODE_PATTERN,
    CODE_PATTERN,
    CURSOR_PATTERN,
    ID_PATTERN,
    LEDGER_CODE_PATTERN,
    MAX_CURSOR_LENGTH,
    MAX_UNITS,
    MoneyIn,
)
from ledger.amounts import parse_decimal
from ledger.errors import InvalidAmount
from ledger.limits import (
    MAX_ASSET_CODE_LENGTH,
    MAX_CODE_LENGTH,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_LEDGER_CODE_LENGTH,
)
from ledger.model import KEY_PATTERN
from ledger.store import LedgerStore

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

API_MAX_PAGE_SIZE = 500
"""Pages are fetched with one extra row to know whether another page follows."""
API_DEFAULT_PAGE_SIZE = 100


def reject_control_characters(request: Request) -> None:
    """Path and query values never legitimately hold control characters (NUL would also be
    refused by PostgreSQL but stored by SQLite): a 422 problem on both backends."""
    values = [*request.path_params.values(), *request.query_params.values()]
    if any(isinstance(value, str) and _CONTROL_RE.search(value) for value in values):
        raise ApiProblem(
            422,
            "request-validation",
            "Request validation failed",
            "path and query parameters may not contain control characters",
        )


class HexIdConvertor(Convertor[str]):
    """Route convertor `{name:hexid}`: ids are 32 hex digits, so `/holds/expire` is never read as the hold
    `expire` (a GET there is then a 405 naming POST, not a 422 about the id)."""

    regex = "[0-9a-f]{32}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("hexid", HexIdConvertor())

LedgerPath = Annotated[
    str,
    Path(pattern=LEDGER_CODE_PATTERN, max_length=MAX_LEDGER_CODE_LENGTH, description="Ledger code.", examples=["main"]),
]
AccountPath = Annotated[
    str, Path(pattern=CODE_PATTERN, max_length=MAX_CODE_LENGTH, description="Account code.", examples=["platform:fees"])
]
AssetPath = Annotated[
    str, Path(pattern=ASSET_CODE_PATTERN, max_length=MAX_ASSET_CODE_LENGTH, description="Asset code.", examples=["USD"])
]
EntryIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="Entry id (32 hex digits).")]
HoldIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="Hold id (32 hex digits).")]
CursorQuery = Annotated[
    str | None,
    Query(
        pattern=CURSOR_PATTERN,
        max_length=MAX_CURSOR_LENGTH,
        description="Opaque: a `next_cursor` from the previous page, unchanged.",
    ),
]


def get_store(request: Request) -> LedgerStore:
    store: LedgerStore = request.app.state.store  # set by api.app at startup
    return store


Store = Annotated[LedgerStore, Depends(get_store)]


class AssetScales:
    """(ledger, asset code) -> scale. An asset's scale never changes once registered, so
    the cache is always right; a miss costs one read (`LedgerStore.get_asset`)."""

    def __init__(self, store: LedgerStore) -> None:
        self._store = store
        self._scales: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def of(self, ledger: str, asset: str) -> int:
        key = (ledger, asset)
        scale = self._scales.get(key)
        if scale is None:
            scale = self._store.get_asset(ledger, asset).scale
            with self._lock:
                self._scales[key] = scale
        return scale

    def for_ledger(self, ledger: str) -> Callable[[str], int]:
        return lambda asset: self.of(ledger, asset)


def get_scales(request: Request) -> AssetScales:
    scales: AssetScales = request.app.state.asset_scales  # set by api.app at startup
    return scales


Scales = Annotated[AssetScales, Depends(get_scales)]


def amount_units_of(money: MoneyIn, scale_of: Callable[[str], int], asset: str) -> int:
    """Base units of a request amount given as `amount_units` or as a decimal `amount`."""
    if money.amount_units is not None:
        return int(money.amount_units)
    assert money.amount is not None
    return checked_decimal(money.amount, scale_of(asset))


def checked_decimal(amount: str, scale: int) -> int:
    units = parse_decimal(amount, scale)
    if not 0 < units <= MAX_UNITS:
        raise InvalidAmount(f"amount {amount} must be positive and at most 2^256-1 base units")
    return units


IDEMPOTENCY_HEADER = "Idempotency-Key"
IdempotencyKey = Annotated[
    str,
    Header(
        alias=IDEMPOTENCY_HEADER,
        pattern=KEY_PATTERN,
        max_length=MAX_IDEMPOTENCY_KEY_LENGTH,
        description="Required. 1-128 printable ASCII characters, no spaces. A missing key is a 400 problem "
        "`idempotency-key-required`.",
    ),
]
OptionalIdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        pattern=KEY_PATTERN,
        max_length=MAX_IDEMPOTENCY_KEY_LENGTH,
        description="Optional; a key derived from the resource id is used when absent.",
    ),
]
