"""An entry request validated and digested, ready for the write transaction.

Everything here is pure (no database work), so it runs before the transaction opens — or in
another process altogether: `entry_body` lets the indexer's reader digest entries ahead of
the writer (ledger.posting re-derives a sample of them).
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger import chain
from ledger.errors import UnbalancedEntry, ValidationFailed
from ledger.model import EntryRequest, Side, new_id, to_us


@dataclass(frozen=True)
class EntryBody:
    """An entry request's canonical metadata JSON and body digest (ledger.chain), computed ahead
    of `post_many` — by a reader process, so that the writer's CPU goes to writing. The writer
    re-derives a sample (SPOT_CHECK_EVERY) and refuses a batch whose sample differs; every
    digest is checked again by `verify`, which recomputes all of them from the stored rows."""

    metadata_json: str
    digest: str


def digest(
    ledger: str, request: EntryRequest, effective_us: int, metadata_json: str, reverses_entry_id: str | None
) -> str:
    """The body digest of an entry (ledger.chain.body_digest over its request's content)."""
    return chain.body_digest(
        ledger=ledger,
        idempotency_key=request.idempotency_key,
        kind=request.kind,
        effective_at_us=effective_us,
        external_ref=request.external_ref,
        reverses_entry_id=reverses_entry_id,
        metadata_json=metadata_json,
        postings=[(leg.account, leg.asset, leg.side.value, leg.amount_units) for leg in request.legs],
    )


def entry_body(ledger: str, request: EntryRequest) -> EntryBody:
    """The body `post_many` would compute for `request` (which must carry its effective time)."""
    if request.effective_at is None:
        raise ValidationFailed("a precomputed body needs the request's effective_at")
    metadata_json = chain.canonical_metadata(request.metadata)
    return EntryBody(metadata_json, digest(ledger, request, to_us(request.effective_at), metadata_json, None))


@dataclass
class Prepared:
    """An entry request validated, resolved to ids and digested, not yet sequenced."""

    request: EntryRequest
    entry_id: str
    effective_at_us: int
    effective_given: bool
    metadata_json: str
    reverses_entry_id: str | None
    legs: list[tuple[int, int, Side, int]]
    """(account_id, asset_id, side, amount) per leg: filled in by the write transaction, which
    resolves (and opens) the accounts."""
    digest: str
    hold_release: tuple[str, int, int, int, int] | None = None
    """(hold id, debit account id, credit account id, asset id, held amount) to release."""


def prepare_one(
    ledger: str,
    request: EntryRequest,
    reverses_entry_id: str | None,
    default_effective_us: int,
    body: EntryBody | None = None,
) -> Prepared:
    """Check that `request` balances per asset and digest it (`body`: its precomputed digest)."""
    sums: dict[str, list[int]] = {}
    for leg in request.legs:
        totals = sums.setdefault(leg.asset, [0, 0])
        totals[0 if leg.side is Side.DEBIT else 1] += leg.amount_units
    for asset_code, (debits, credits) in sums.items():
        if debits != credits:
            raise UnbalancedEntry(
                f"entry {request.idempotency_key}: {asset_code} debits {debits} != credits {credits}",
                asset=asset_code,
            )
    effective_us = to_us(request.effective_at) if request.effective_at else default_effective_us
    if body is None:
        metadata_json = chain.canonical_metadata(request.metadata)
        body_digest = digest(ledger, request, effective_us, metadata_json, reverses_entry_id)
    else:
        metadata_json, body_digest = body.metadata_json, body.digest
    return Prepared(
        request=request,
        entry_id=new_id(),
        effective_at_us=effective_us,
        effective_given=request.effective_at is not None,
        metadata_json=metadata_json,
        reverses_entry_id=reverses_entry_id,
        legs=[],
        digest=body_digest,
    )
