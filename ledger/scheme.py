"""The platform's account scheme: default templates every Kogi ledger starts with.

One table for every caller that bootstraps a ledger (the API at start-up, the indexer),
so an account code always opens with the same type and constraint.

Default account templates (accounts opened on first use; explicit accounts win):

| pattern          | type      | no_overdraft | why                                                    |
|------------------|-----------|--------------|--------------------------------------------------------|
| `holder:*`       | liability | yes          | what the platform owes a holder; never below zero       |
| `round:*`        | liability | yes          | funding-round escrow owed to investors or the treasury  |
| `portfolio:*`    | liability | yes          | portfolio treasury/revenue held for creators            |
| `distribution:*` | liability | yes          | revenue pools owed to token holders                     |
| `splitter:*`     | liability | no           | payout-splitter holdings owed to its payees. Overdraft  |
|                  |           |              | allowed: ETH/ERC-20 can reach a splitter without a log  |
|                  |           |              | the indexer sees, and a later release must still post   |
|                  |           |              | (the chain already allowed it); reconcile shows the gap |
| `platform:*`     | income    | yes          | fees earned; the platform cannot pay out fees it has    |
|                  |           |              | not earned. An account that must go negative (e.g. a    |
|                  |           |              | subsidy) is opened explicitly as an expense account.    |
| `external:*`     | asset     | no           | fiat rails / providers: money arriving from outside     |
| `chain:*`        | equity    | no           | issuance source (`chain:<id>:mint`): minting debits it  |
| `world:*`        | equity    | no           | the outside world for tests and corrections             |
"""
from __future__ import annotations

from ledger.model import AccountingType
from ledger.store import LedgerStore

DEFAULT_ACCOUNT_TEMPLATES: tuple[tuple[str, AccountingType, bool], ...] = (
    ("holder:*", AccountingType.LIABILITY, True),
    ("round:*", AccountingType.LIABILITY, True),
    ("portfolio:*", AccountingType.LIABILITY, True),
    ("distribution:*", AccountingType.LIABILITY, True),
    ("splitter:*", AccountingType.LIABILITY, False),
    ("platform:*", AccountingType.INCOME, True),
    ("external:*", AccountingType.ASSET, False),
    ("chain:*", AccountingType.EQUITY, False),
    ("world:*", AccountingType.EQUITY, False),
)
"""(pattern, accounting type, no_overdraft)."""


def bootstrap_ledger(store: LedgerStore, ledger: str) -> None:
    """Create `ledger` with the default templates; templates already present are left alone."""
    store.create_ledger(ledger)
    present = {template.pattern for template in store.list_account_templates(ledger)}
    for pattern, accounting_type, no_overdraft in DEFAULT_ACCOUNT_TEMPLATES:
        if pattern not in present:
            store.add_account_template(ledger, pattern, accounting_type, no_overdraft=no_overdraft)
