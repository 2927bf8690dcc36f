"""The HTTP API contract (pydantic models) and the mapping from ledger types to it.

Amount convention
-----------------
Money and token quantities never travel as JSON numbers (a float would lose
precision, and 2^256-1 does not fit a double). Every amount is a JSON **string**:

- `amount_units` — the integer number of base units as decimal digits, e.g. `"1250"`
  for 12.50 USD (scale 2) or `"1000000000000000000"` for 1 ETH (scale 18). This is the
  canonical form. In requests it is validated strictly: digits only, no sign, no
  leading zeros, no decimal point, no exponent, from 1 to 2^256-1.
- `amount` — the same value as a decimal string at the asset's scale, e.g. `"12.50"`.
  Responses always carry both (`amount` is for display; in responses it always has
  exactly `scale` decimals). A request may give `amount` instead of `amount_units`:
  exactly one of the two is required, and an `amount` with more decimal places than
  the asset's scale is rejected rather than rounded.

A JSON number for either field, both fields, neither field, or a malformed string is a
422 problem. Balances in responses (`posted_units`, `available_units`, ...) follow the
same rule; balances on the account's normal side may be negative (`"-500"`) for
unconstrained accounts.

Timestamps are RFC 3339 strings with a timezone (`2026-01-31T12:00:00Z`); naive times
are rejected. Pagination: list responses carry `next_cursor` (opaque); pass it back as
`cursor` to get the next page; it is null on the last page.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from annotated_types import Interval
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from ledger.amounts import format_decimal
from ledger.limits import (
    MAX_AMOUNT_UNITS,
    MAX_ASSET_CODE_LENGTH,
    MAX_CODE_LENGTH,
    MAX_CONTRACT_ADDRESS_LENGTH,
    MAX_EXTERNAL_REF_LENGTH,
    MAX_INT64,
    MAX_KIND_LENGTH,
    MAX_LEDGER_CODE_LENGTH,
    MAX_POSTINGS_PER_ENTRY,
    MAX_SCALE,
)
from ledger.model import CODE_PATTERN as CODE_ALPHABET_PATTERN
from ledger.model import (
    KEY_PATTERN,
    KIND_PATTERN,
    Account,
    AccountingType,
    AccountTemplate,
    Asset,
    AssetKind,
    Balance,
    Entry,
    Hold,
    HoldStatus,
    Side,
    StatementPage,
    TrialBalance,
    VerifyReport,
    from_us,
)
from services.siwe import MAX_MESSAGE_BYTES as MAX_SIWE_MESSAGE_BYTES
from services.siwe import MAX_SIGNATURE_BYTES as MAX_SIWE_SIGNATURE_BYTES

MAX_UNITS_DIGITS = 78  # len(str(2**256 - 1))
MAX_DECIMAL_LENGTH = MAX_UNITS_DIGITS + MAX_SCALE + 1

_FIRST_CHARS = string.ascii_letters + string.digits
_CODE_CHARS = _FIRST_CHARS + ":._@-"


def _char_class(chars: str) -> str:
    """`[...]` of these characters, consecutive runs written as ranges (`a-z`)."""
    codes = sorted({ord(char) for char in chars})
    parts: list[str] = []
    start = previous = codes[0]
    for code in [*codes[1:], -1]:
        if code == previous + 1:
            previous = code
            continue
        low, high = (re.escape(chr(start)) if chr(start) in "-]\\^" else chr(start)), chr(previous)
        parts.append(low if start == previous else f"{low}{high}" if previous == start + 1 else f"{low}-{high}")
        start = previous = code
    return "[" + "".join(parts) + "]"


def _codes_not_starting_with(word: str) -> str:
    """A regex body (no anchors) for codes of the code alphabet that do not start with `word`. Spelled
    out without look-around: OpenAPI patterns are ECMA-262, and tools (schemathesis) refuse look-around."""
    first, rest = _char_class(_FIRST_CHARS), _char_class(_CODE_CHARS)
    alternatives = [f"{first}{rest}{{0,{len(word) - 2}}}"]  # shorter than `word`
    for index, char in enumerate(word):
        allowed = _FIRST_CHARS if index == 0 else _CODE_CHARS
        alternatives.append(re.escape(word[:index]) + _char_class(allowed.replace(char, "")) + f"{rest}*")
    return "|".join(alternatives)


CODE_PATTERN = f"^(?:{_codes_not_starting_with('holder:')}|holder:[1-9][0-9]{{0,18}}:0x[0-9A-Fa-f]{{40}})$"
"""Account codes: letters, digits and `: . _ @ -` (no `/`: a code is one path segment); a `holder:`
code is `holder:<chain id>:0x<40 hex>` (the default chart's rule, ledger/chart.py)."""
CODE_PREFIX_PATTERN = r"^[A-Za-z0-9:._@\-]*$"
ASSET_CODE_PATTERN = CODE_ALPHABET_PATTERN
LEDGER_CODE_PATTERN = f"^(?:{_codes_not_starting_with('ledgers')}|ledgers{_char_class(_CODE_CHARS)}+)$"
"""Ledger codes: the code alphabet, except `ledgers` itself (`/v1/ledger/ledgers` lists the ledgers)."""
PATTERN_MEANINGS: dict[str, str] = {}
"""pattern -> what it means in words: validation errors say this instead of quoting a long regex."""
PATTERN_MEANINGS[CODE_PATTERN] = (
    "should be an account code: letters, digits and : . _ @ - (a holder code is holder:<chain id>:0x<40 hex digits>)"
)
PATTERN_MEANINGS[LEDGER_CODE_PATTERN] = "should be a ledger code: letters, digits and : . _ @ - (not 'ledgers')"
"""Idempotency keys and external references: printable ASCII without spaces."""
ID_PATTERN = r"^[0-9a-f]{32}$"
CURSOR_PATTERN = r"^[A-Za-z0-9_\-]+={0,2}$"
"""Cursors are opaque (URL-safe base64); pass back a `next_cursor` unchanged."""
MAX_CURSOR_LENGTH = 512
POSITIVE_UNITS_PATTERN = r"^[1-9][0-9]*$"
POSITIVE_DECIMAL_PATTERN = r"^(?:[1-9][0-9]*(?:\.[0-9]+)?|0\.[0-9]*[1-9][0-9]*)$"

UnitsString = Annotated[
    str,
    Strict(),
    StringConstraints(pattern=POSITIVE_UNITS_PATTERN, max_length=MAX_UNITS_DIGITS),
    Field(description="Positive integer of base units as a decimal-digit string, at most 2^256-1.", examples=["1250"]),
]
DecimalString = Annotated[
    str,
    Strict(),
    StringConstraints(pattern=POSITIVE_DECIMAL_PATTERN, max_length=MAX_DECIMAL_LENGTH),
    Field(
        description="Positive decimal string at most at the asset's scale (no sign, no exponent).", examples=["12.50"]
    ),
]
AccountCode = Annotated[
    str, Strict(), StringConstraints(min_length=1, max_length=MAX_CODE_LENGTH, pattern=CODE_PATTERN)
]
AssetCode = Annotated[
    str, Strict(), StringConstraints(min_length=1, max_length=MAX_ASSET_CODE_LENGTH, pattern=ASSET_CODE_PATTERN)
]
LedgerCode = Annotated[str, Strict(), StringConstraints(pattern=LEDGER_CODE_PATTERN, max_length=MAX_LEDGER_CODE_LENGTH)]
Kind = Annotated[str, Strict(), StringConstraints(min_length=1, max_length=MAX_KIND_LENGTH, pattern=KIND_PATTERN)]
ExternalRef = Annotated[
    str, Strict(), StringConstraints(min_length=1, max_length=MAX_EXTERNAL_REF_LENGTH, pattern=KEY_PATTERN)
]
_RFC3339_START = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}")


def _rfc3339_text(value: Any) -> Any:
    """Only RFC 3339 strings become timestamps (not JSON numbers or bare unix-time strings)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339_START.match(value):
        raise ValueError("expected an RFC 3339 timestamp with a timezone, e.g. 2026-01-31T12:00:00Z")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]


def _json_integer(value: Any) -> Any:
    """JSON Schema's integer: a JSON number with no fractional part (`5` or `5.0`), never a boolean or a
    string (which pydantic's lax mode would turn into 0/1 or parse)."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= SAFE_INTEGER:
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("expected an integer")
    return value


def json_int(minimum: int, maximum: int) -> Any:
    """An integer field in [minimum, maximum]: the bounds bind the integer itself (so the schema states them
    as minimum/maximum), then `_json_integer` runs before it."""
    return Annotated[
        int,
        Strict(),
        Interval(ge=minimum, le=maximum),
        BeforeValidator(_json_integer),
        WithJsonSchema({"type": "integer", "minimum": minimum, "maximum": maximum}),
    ]


MAX_METADATA_NESTING = 3
"""Arrays/objects inside a metadata object nest at most this deep (the schema spells each level out)."""
SAFE_INTEGER = 2**53 - 1


def _metadata_value_schema(levels: int) -> dict[str, Any]:
    scalars: list[dict[str, Any]] = [{"type": "string"}, {"type": "integer"}, {"type": "boolean"}, {"type": "null"}]
    if levels == 0:
        return {"anyOf": scalars}
    inner = _metadata_value_schema(levels - 1)
    return {"anyOf": [*scalars, {"type": "array", "items": inner}, {"type": "object", "additionalProperties": inner}]}


def _metadata_object(value: Any) -> Any:
    """Metadata holds strings, integers, booleans, null and arrays/objects of them (no fractions: their
    text form is not canonical). An integral number written as `5.0` is the integer 5 (JSON Schema's
    view); a larger one than 2^53-1 written so would already have lost digits in a float, so it is
    refused. Nesting is bounded so that the schema can state it exactly."""
    if not isinstance(value, dict):
        raise ValueError("metadata must be a JSON object")
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, item in items:
            if isinstance(item, float):
                if not item.is_integer() or abs(item) > SAFE_INTEGER:
                    raise ValueError("metadata numbers must be integers (write amounts and fractions as strings)")
                node[key] = int(item)
            elif isinstance(item, (dict, list)):
                if depth >= MAX_METADATA_NESTING:
                    raise ValueError(f"metadata nests arrays/objects at most {MAX_METADATA_NESTING} levels deep")
                stack.append((item, depth + 1))
    return value


Metadata = Annotated[
    dict[str, Any],
    BeforeValidator(_metadata_object),
    WithJsonSchema(
        {
            "type": "object",
            "additionalProperties": _metadata_value_schema(MAX_METADATA_NESTING),
            "description": "JSON object of strings, integers, booleans, null and arrays/objects of them "
            f"(no fractions; at most {MAX_METADATA_NESTING} levels of nesting, 16 KiB).",
        }
    ),
]

MAX_UNITS = MAX_AMOUNT_UNITS
MAX_SEQUENCE = MAX_INT64
MAX_API_INTEGER = 2**53 - 1
"""Largest sequence number or chain id the API takes as a JSON number or query integer: exact in a double
(JavaScript clients, and the OpenAPI document, whose bounds FastAPI writes as floats)."""
"""Sequence numbers and chain ids are 64-bit signed integers in the database."""


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _exactly_one_of(*names: str) -> dict[str, Any]:
    """JSON Schema for "exactly one of these properties" (each is then non-null when present)."""
    return {"oneOf": [{"required": [name]} for name in names]}


class MoneyIn(_In):
    """Exactly one of `amount_units` (canonical) or `amount` (decimal at the asset's scale)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_exactly_one_of("amount_units", "amount"))

    # Absent is None; an explicit null is refused (the schema says string), so the schema is exact.
    amount_units: UnitsString = None  # type: ignore[assignment]
    amount: DecimalString = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _exactly_one_amount(self) -> MoneyIn:
        if (self.amount_units is None) == (self.amount is None):
            raise ValueError("give exactly one of amount_units (base-unit digits) or amount (decimal string)")
        return self


# ----------------------------------------------------------------- requests


class LedgerIn(_In):
    code: LedgerCode
    name: Annotated[str, Strict(), StringConstraints(pattern=r"^[^\x00-\x1f\x7f]*$", max_length=256)] | None = None


class AssetIn(_In):
    code: AssetCode
    scale: json_int(0, MAX_SCALE)  # type: ignore[valid-type]
    kind: AssetKind
    chain_id: json_int(1, MAX_API_INTEGER) | None = None  # type: ignore[valid-type]
    contract_address: (
        Annotated[str, Strict(), StringConstraints(pattern=ASSET_CODE_PATTERN, max_length=MAX_CONTRACT_ADDRESS_LENGTH)]
        | None
    ) = None


class AccountIn(_In):
    code: AccountCode
    accounting_type: AccountingType
    no_overdraft: Annotated[bool, Strict()] = False
    metadata: Metadata = Field(default_factory=dict)


class AccountTemplateIn(_In):
    pattern: Annotated[str, Strict(), StringConstraints(min_length=1, max_length=256)] = Field(
        description="Glob over account codes, e.g. 'holder:*'."
    )
    accounting_type: AccountingType
    no_overdraft: Annotated[bool, Strict()]
    priority: json_int(0, 1_000_000) = 100  # type: ignore[valid-type]


class PostingIn(MoneyIn):
    account: AccountCode
    asset: AssetCode
    side: Literal["debit", "credit"]


class TransferIn(MoneyIn):
    """Value moves `from` (debited) `to` (credited): two postings."""

    from_account: AccountCode = Field(alias="from")
    to_account: AccountCode = Field(alias="to")
    asset: AssetCode


class EntryIn(_In):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_exactly_one_of("postings", "transfers"))

    kind: Kind
    effective_at: Timestamp | None = None
    external_ref: ExternalRef | None = None
    metadata: Metadata = Field(default_factory=dict)
    postings: Annotated[list[PostingIn], Field(min_length=2, max_length=MAX_POSTINGS_PER_ENTRY)] = None  # type: ignore[assignment]
    transfers: Annotated[list[TransferIn], Field(min_length=1, max_length=MAX_POSTINGS_PER_ENTRY // 2)] = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _exactly_one_shape(self) -> EntryIn:
        if (self.postings is None) == (self.transfers is None):
            raise ValueError("give exactly one of postings or transfers")
        return self


class ReversalIn(_In):
    reason: Annotated[str, Strict(), StringConstraints(max_length=1024)] | None = None
    effective_at: Timestamp | None = None


class HoldIn(MoneyIn):
    """Reserve value moving `from` (debited on post) `to` (credited on post)."""

    from_account: AccountCode = Field(alias="from")
    to_account: AccountCode = Field(alias="to")
    asset: AssetCode
    kind: Kind = "transfer"
    expires_at: Timestamp | None = None
    metadata: Metadata = Field(default_factory=dict)


class HoldPostIn(_In):
    """Post all of the hold (no amount) or part of it (`amount_units` or `amount`)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"not": {"required": ["amount_units", "amount"]}})

    amount_units: UnitsString = None  # type: ignore[assignment]
    amount: DecimalString = None  # type: ignore[assignment]
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _at_most_one_amount(self) -> HoldPostIn:
        if self.amount_units is not None and self.amount is not None:
            raise ValueError("give at most one of amount_units or amount")
        return self


# ---------------------------------------------------------------- responses


class LedgerOut(BaseModel):
    code: str


class LedgerList(BaseModel):
    items: list[LedgerOut]


class AssetOut(BaseModel):
    code: str
    scale: int
    kind: AssetKind
    chain_id: int | None
    contract_address: str | None


class AssetList(BaseModel):
    items: list[AssetOut]


class BalanceOut(BaseModel):
    account: str
    asset: str
    accounting_type: AccountingType
    posted_units: str = Field(description="Signed balance on the account's normal side, base units.")
    posted: str
    available_units: str = Field(description="Posted balance less pending holds that would reduce it.")
    available: str
    debits_posted_units: str
    credits_posted_units: str
    debits_pending_units: str
    credits_pending_units: str
    version: int
    as_of_sequence: int | None = Field(description="Set for historical balances (no pending part).")


class AccountOut(BaseModel):
    code: str
    accounting_type: AccountingType
    no_overdraft: bool
    metadata: dict[str, Any]


class AccountWithBalances(AccountOut):
    balances: list[BalanceOut]


class AccountList(BaseModel):
    items: list[AccountOut]
    next_cursor: str | None


class AccountTemplateOut(BaseModel):
    pattern: str
    accounting_type: AccountingType
    no_overdraft: bool
    priority: int


class AccountTemplateList(BaseModel):
    items: list[AccountTemplateOut]


class PostingOut(BaseModel):
    account: str
    asset: str
    side: Literal["debit", "credit"]
    amount_units: str
    amount: str


class EntryOut(BaseModel):
    id: str
    ledger: str
    sequence: int
    idempotency_key: str
    kind: str
    effective_at: datetime
    recorded_at: datetime
    external_ref: str | None
    reverses_entry_id: str | None
    metadata: dict[str, Any]
    postings: list[PostingOut]
    body_digest: str
    hash: str


class EntryList(BaseModel):
    items: list[EntryOut]
    next_cursor: str | None


class HoldOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    idempotency_key: str
    kind: str
    from_account: str = Field(serialization_alias="from")
    to_account: str = Field(serialization_alias="to")
    asset: str
    amount_units: str
    amount: str
    status: HoldStatus
    expires_at: datetime | None
    created_at: datetime
    resolved_at: datetime | None
    posted_entry_id: str | None
    metadata: dict[str, Any]


class HoldExpireOut(BaseModel):
    expired: int


class StatementLineOut(BaseModel):
    sequence: int
    leg_index: int
    entry_id: str
    kind: str
    effective_at: datetime
    recorded_at: datetime
    side: Literal["debit", "credit"]
    amount_units: str
    amount: str
    balance_after_units: str
    balance_after: str
    external_ref: str | None


class StatementOut(BaseModel):
    account: str
    asset: str
    opening_balance_units: str = Field(description="Balance before the first line of this page.")
    opening_balance: str
    lines: list[StatementLineOut]
    next_cursor: str | None


class TrialBalanceRowOut(BaseModel):
    asset: str
    accounting_type: AccountingType
    debits_units: str
    credits_units: str
    debits: str
    credits: str


class TrialBalanceTotalOut(BaseModel):
    asset: str
    debits_units: str
    credits_units: str
    balanced: bool


class TrialBalanceOut(BaseModel):
    as_of_sequence: int
    balanced: bool
    rows: list[TrialBalanceRowOut]
    totals: list[TrialBalanceTotalOut]


class VerifyOut(BaseModel):
    ledger: str
    ok: bool
    entries_checked: int
    first_bad_sequence: int | None
    first_bad_entry_id: str | None
    reason: str | None
    balance_mismatches: list[str]


class HealthDatabase(BaseModel):
    reachable: bool


class HealthLedger(BaseModel):
    code: str
    head_sequence: int | None


class HealthAlert(BaseModel):
    """An open (unacknowledged) indexer alert: `kogi indexer alerts --ack ID --by NAME` clears it."""

    id: int
    kind: str = Field(description="e.g. reorg_too_deep.")
    severity: str = Field(description="critical, warning or info; an open critical alert makes status degraded.")
    message: str
    created_at: datetime


class HealthChain(BaseModel):
    chain_id: int
    indexed_block: int | None = Field(description="Last block mirrored into the ledger (the indexer's cursor).")
    head_block: int | None = Field(
        description="The chain's head; null when this process has no RPC for it or the RPC does not answer."
    )
    lag_blocks: int | None = Field(description="head_block - indexed_block (null when either is unknown).")
    indexer_running: bool | None = Field(
        description="The in-process indexer's thread is alive; null when the "
        "indexer runs elsewhere (`kogi indexer run`)."
    )
    error: str | None = Field(None, description="Why the in-process indexer stopped, if it did.")
    open_alerts: int = Field(0, description="Unacknowledged alerts of this chain (the outbox `indexer_alerts`).")
    alerts: list[HealthAlert] = Field(default_factory=list, description="Those alerts, oldest first.")
    indexer_state: Literal["starting", "running", "waiting_for_lease", "backing_off", "stopped"] | None = Field(
        None,
        description="The in-process indexer's state (null when the indexer runs elsewhere): running "
        "(following or caught up); waiting_for_lease (another owner holds the chain's lease, e.g. "
        "a process killed without releasing it: this one takes over when it expires); "
        "backing_off (RPC errors, or a chain flapping between forks: waiting for it to settle); "
        'stopped (see `error`). waiting_for_lease and backing_off make `status` "degraded".',
    )
    indexer_reason: str | None = Field(
        None,
        description="Why, in words: the lease holder and when its lease "
        "expires, the backoff's cause, the stop's error.",
    )
    indexer_until: datetime | None = Field(
        None, description="When the awaited lease expires / the next attempt is due (waiting_for_lease, backing_off)."
    )
    rpc_url: str | None = Field(
        None,
        description="JSON-RPC URL of the anvil this server started (embedded mode; "
        "`kogi demo` finds the chain with it); null otherwise: an external "
        "KOGI_RPC_URL may hold a secret.",
    )


class HealthOut(BaseModel):
    status: Literal["ok", "degraded", "unavailable"] = Field(
        description="ok; degraded: the database answers but a chain has an open critical alert, or this "
        "process's indexer is waiting for another owner's lease or backing off (`indexer_state`: the "
        "mirror is not advancing; HTTP 200 still: the API serves, a human may have to look at the "
        "indexer); unavailable: the database does not answer (HTTP 503)."
    )
    database: HealthDatabase
    ledger: HealthLedger
    chains: list[HealthChain] = Field(
        default_factory=list, description="Per chain mirrored in this database: indexed block, head, lag."
    )


# ------------------------------------------------------------------ mapping

ScaleOf = Callable[[str], int]
"""asset code -> scale, for the `amount` display strings."""

_SIDE_NAMES = {Side.DEBIT: "debit", Side.CREDIT: "credit"}
SIDES_IN = {"debit": Side.DEBIT, "credit": Side.CREDIT}


def side_name(side: Side) -> Literal["debit", "credit"]:
    return _SIDE_NAMES[Side(side)]  # type: ignore[return-value]


def asset_out(asset: Asset) -> AssetOut:
    return AssetOut(
        code=asset.code,
        scale=asset.scale,
        kind=asset.kind,
        chain_id=asset.chain_id,
        contract_address=asset.contract_address,
    )


def account_out(account: Account) -> AccountOut:
    return AccountOut(
        code=account.code,
        accounting_type=account.accounting_type,
        no_overdraft=account.no_overdraft,
        metadata=account.metadata,
    )


def template_out(template: AccountTemplate) -> AccountTemplateOut:
    return AccountTemplateOut(
        pattern=template.pattern,
        accounting_type=template.accounting_type,
        no_overdraft=template.no_overdraft,
        priority=template.priority,
    )


def balance_out(balance: Balance, scale: int) -> BalanceOut:
    return BalanceOut(
        account=balance.account,
        asset=balance.asset,
        accounting_type=balance.accounting_type,
        posted_units=str(balance.posted_units),
        posted=format_decimal(balance.posted_units, scale),
        available_units=str(balance.available_units),
        available=format_decimal(balance.available_units, scale),
        debits_posted_units=str(balance.debits_posted_units),
        credits_posted_units=str(balance.credits_posted_units),
        debits_pending_units=str(balance.debits_pending_units),
        credits_pending_units=str(balance.credits_pending_units),
        version=balance.version,
        as_of_sequence=balance.as_of_sequence,
    )


def entry_out(entry: Entry, scale_of: ScaleOf) -> EntryOut:
    return EntryOut(
        id=entry.id,
        ledger=entry.ledger,
        sequence=entry.sequence,
        idempotency_key=entry.idempotency_key,
        kind=entry.kind,
        effective_at=entry.effective_at,
        recorded_at=entry.recorded_at,
        external_ref=entry.external_ref,
        reverses_entry_id=entry.reverses_entry_id,
        metadata=entry.metadata,
        postings=[
            PostingOut(
                account=leg.account,
                asset=leg.asset,
                side=side_name(leg.side),
                amount_units=str(leg.amount_units),
                amount=format_decimal(leg.amount_units, scale_of(leg.asset)),
            )
            for leg in entry.legs
        ],
        body_digest=entry.body_digest,
        hash=entry.hash,
    )


def _maybe_time(moment_us: int | None) -> datetime | None:
    return None if moment_us is None else from_us(int(moment_us))


def hold_out(hold: Hold, scale: int) -> HoldOut:
    return HoldOut(
        id=hold.id,
        idempotency_key=hold.idempotency_key,
        kind=hold.kind,
        from_account=hold.debit_account,
        to_account=hold.credit_account,
        asset=hold.asset,
        amount_units=str(hold.amount_units),
        amount=format_decimal(hold.amount_units, scale),
        status=hold.status,
        expires_at=_maybe_time(hold.expires_at_us),
        created_at=from_us(int(hold.created_at_us)),
        resolved_at=_maybe_time(hold.resolved_at_us),
        posted_entry_id=hold.posted_entry_id,
        metadata=hold.metadata,
    )


def statement_out(page: StatementPage, scale: int) -> StatementOut:
    return StatementOut(
        account=page.account,
        asset=page.asset,
        opening_balance_units=str(page.opening_balance_units),
        opening_balance=format_decimal(page.opening_balance_units, scale),
        lines=[
            StatementLineOut(
                sequence=line.sequence,
                leg_index=line.leg_index,
                entry_id=line.entry_id,
                kind=line.kind,
                effective_at=from_us(line.effective_at_us),
                recorded_at=from_us(line.recorded_at_us),
                side=side_name(line.side),
                amount_units=str(line.amount_units),
                amount=format_decimal(line.amount_units, scale),
                balance_after_units=str(line.balance_after_units),
                balance_after=format_decimal(line.balance_after_units, scale),
                external_ref=line.external_ref,
            )
            for line in page.lines
        ],
        next_cursor=page.next_cursor,
    )


def trial_balance_out(report: TrialBalance, scale_of: ScaleOf) -> TrialBalanceOut:
    return TrialBalanceOut(
        as_of_sequence=report.as_of_sequence,
        balanced=report.balanced,
        rows=[
            TrialBalanceRowOut(
                asset=row.asset,
                accounting_type=row.accounting_type,
                debits_units=str(row.debits_units),
                credits_units=str(row.credits_units),
                debits=format_decimal(row.debits_units, scale_of(row.asset)),
                credits=format_decimal(row.credits_units, scale_of(row.asset)),
            )
            for row in report.rows
        ],
        totals=[
            TrialBalanceTotalOut(
                asset=asset, debits_units=str(debits), credits_units=str(credits), balanced=debits == credits
            )
            for asset, (debits, credits) in report.totals.items()
        ],
    )


def verify_out(report: VerifyReport) -> VerifyOut:
    return VerifyOut(
        ledger=report.ledger,
        ok=report.ok,
        entries_checked=report.entries_checked,
        first_bad_sequence=report.first_bad_sequence,
        first_bad_entry_id=report.first_bad_entry_id,
        reason=report.reason,
        balance_mismatches=list(report.balance_mismatches),
    )


# ---------------------------------------------------------------- sign-in (services/auth.py)

SIGNATURE_PATTERN = r"^0x(?:[0-9a-fA-F]{2})+$"
REFRESH_TOKEN_PATTERN = r"^kr_[A-Za-z0-9_\-]{16,128}$"
PATTERN_MEANINGS[SIGNATURE_PATTERN] = "should be a 0x-prefixed hex signature (an even number of hex digits)"
PATTERN_MEANINGS[REFRESH_TOKEN_PATTERN] = "should be a refresh token as POST /v1/auth/siwe or /refresh returned it"


class NonceOut(BaseModel):
    nonce: str = Field(description="Put it in the EIP-4361 message's `Nonce:` line; single use.")
    expires_at: AwareDatetime = Field(description="Sign in before this time (at most 10 minutes).")


class SiweIn(_In):
    message: Annotated[
        str,
        Strict(),
        StringConstraints(min_length=1, max_length=MAX_SIWE_MESSAGE_BYTES),
        Field(description="The EIP-4361 message, exactly as the wallet signed it (LF line ends, at most 4 KiB)."),
    ]
    signature: Annotated[
        str,
        Strict(),
        StringConstraints(pattern=SIGNATURE_PATTERN, max_length=2 + 2 * MAX_SIWE_SIGNATURE_BYTES),
        Field(description="personal_sign (EIP-191) signature of the message; EIP-1271 wallets: their signature."),
    ]


class RefreshIn(_In):
    refresh_token: Annotated[
        str,
        Strict(),
        StringConstraints(pattern=REFRESH_TOKEN_PATTERN, max_length=131),
        Field(description="Single use."),
    ]


class TokenOut(BaseModel):
    access_token: str = Field(description="JWT (HS256, `kid` header); send as `Authorization: Bearer <token>`.")
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds the access token is valid (at most 900).")
    refresh_token: str = Field(description="Single use: POST /v1/auth/refresh returns a new pair and retires it.")


class PortfolioRoleOut(BaseModel):
    id: str
    role: str


class MeOut(BaseModel):
    address: str = Field(description="The signed-in wallet, EIP-55 checksummed.")
    roles: list[str]
    tenant: str
    portfolios: list[PortfolioRoleOut]


# ---------------------------------------------------------------- API keys (issue 11 §2)

API_KEY_NAME_PATTERN = r"^[\x20-\x7e]{1,100}$"
PATTERN_MEANINGS[API_KEY_NAME_PATTERN] = "should be 1-100 printable ASCII characters"
ApiKeyScope = Literal["ledger:read", "ledger:write"]
"""services.access.API_KEY_SCOPES (a test keeps them equal)."""


class ApiKeyIn(_In):
    name: Annotated[
        str,
        Strict(),
        StringConstraints(pattern=API_KEY_NAME_PATTERN, max_length=100),
        Field(description="What the key is for (e.g. the service using it)."),
    ]
    scopes: Annotated[
        list[ApiKeyScope],
        Field(
            min_length=1,
            max_length=8,
            description="`ledger:read` (every GET under /v1/ledger), `ledger:write` (every POST under /v1/ledger); "
            "repeats are ignored.",
        ),
    ]
    expires_at: Timestamp | None = Field(default=None, description="Optional; must be in the future.")


class ApiKeyOut(BaseModel):
    id: str = Field(description="32 hex digits; in creation order.")
    name: str
    scopes: list[str]
    expires_at: datetime | None
    created_at: datetime
    last_used_at: datetime | None = Field(description="Recorded to the minute.")
    revoked_at: datetime | None


class ApiKeyCreatedOut(BaseModel):
    id: str
    key: str = Field(description="The key itself (`kk_…`): shown this once, stored only as a SHA-256 digest.")
    name: str
    scopes: list[str]
    expires_at: datetime | None
    created_at: datetime


class ApiKeyList(BaseModel):
    items: list[ApiKeyOut]
    next_cursor: str | None


# ---------------------------------------------------------------- audit log (issue 11 §4)

AUDIT_ACTION_PATTERN = r"^[a-z0-9_.]{1,64}$"
AUDIT_ACTOR_PATTERN = r"^[\x21-\x7e]{1,100}$"
PATTERN_MEANINGS[AUDIT_ACTION_PATTERN] = "should be an audit action such as api_key.created"
PATTERN_MEANINGS[AUDIT_ACTOR_PATTERN] = "should be an actor: a wallet address, api_key:<id> or platform_admin"


class AuditRecordOut(BaseModel):
    sequence: int = Field(description="Position in the hash chain: 1, 2, 3, … without gaps.")
    id: str
    recorded_at: datetime
    tenant: str
    actor: str = Field(description="A wallet address, `api_key:<id>` or `platform_admin` (the admin key).")
    action: str = Field(description="`api_key.created`, `api_key.revoked`, …")
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None
    ip: str | None
    hash: str = Field(description="SHA-256 chain link (services/audit.py states the canonical form).")


class AuditList(BaseModel):
    items: list[AuditRecordOut]
    next_cursor: str | None
