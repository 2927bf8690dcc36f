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

Account-code rules of the chart (`DEFAULT_ACCOUNT_CODE_RULES`; every `LedgerStore` applies
them unless given others — the store itself knows nothing about chains):

- `holder:<chain id>:0x<40 hex digits>` — a holder account names an EVM address. The address
  is stored in lower case and every write and read that takes an account code (entries, holds,
  accounts, balances, statements) accepts any spelling of it (checksummed or not); a `holder:`
  code of any other shape (no chain id, a short or non-hex address) is a ValidationFailed (422).
  indexer.mapping builds exactly this form (`holder_account`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ledger.model import AccountingType
from ledger.policy import AccountCodeRule

if TYPE_CHECKING:  # the store imports this chart's rules as its default
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

HOLDER_CODE_RULE = AccountCodeRule(
    prefix="holder:",
    pattern=r"holder:[1-9][0-9]{0,18}:0x[0-9a-fA-F]{40}",
    shape="holder:<chain id>:0x<40 hex digits>",
    lower_case=True,
)
DEFAULT_ACCOUNT_CODE_RULES: tuple[AccountCodeRule, ...] = (HOLDER_CODE_RULE,)


def bootstrap_ledger(store: LedgerStore, ledger: str) -> None:
    """Create `ledger` with the default templates; templates already present are left alone."""
    store.create_ledger(ledger)
    present = {template.pattern for template in store.list_account_templates(ledger)}
    for pattern, accounting_type, no_overdraft in DEFAULT_ACCOUNT_TEMPLATES:
        if pattern not in present:
            store.add_account_template(ledger, pattern, accounting_type, no_overdraft=no_overdraft)
