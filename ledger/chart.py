"""The chart of accounts of the Kogi platform: which account and asset codes exist, how each
account opens (templates), the rules its codes obey, and the builders that spell every code.

The ledger core does not depend on this module: `LedgerStore` applies whatever account-code
rules its caller gives it and opens accounts from the templates stored in its ledger. This
chart is what the platform's callers (the API, the CLI, the indexer, the services, the demo)
give it: `LedgerStore(database, account_code_rules=DEFAULT_ACCOUNT_CODE_RULES)` and
`bootstrap_ledger(store, ledger)`. One table for every caller that bootstraps a ledger, so an
account code always opens with the same type and constraint, and one builder per code, so
the indexer, the services and the demo spell it the same way.

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

Account-code rules of the chart (`DEFAULT_ACCOUNT_CODE_RULES`; the platform's callers give them
to every `LedgerStore` they open — the store itself knows nothing about chains):

- `holder:<chain id>:0x<40 hex digits>` — a holder account names an EVM address. The address
  is stored in lower case and every write and read that takes an account code (entries, holds,
  accounts, balances, statements) accepts any spelling of it (checksummed or not); a `holder:`
  code of any other shape (no chain id, a short or non-hex address) is a ValidationFailed (422).
  `holder_account` below builds exactly this form.

Codes (addresses lower-case hex, `<chain>` = chain id): portfolio token `PTK:<chain>:<token>`,
rights token id `RGT:<chain>:<rights token>:<hex id>`, ERC-20 `ERC20:<chain>:<address>`, native
coin `ETH:<chain>`; accounts as the builders below spell them.
"""

from __future__ import annotations

from ledger.database import Database
from ledger.model import AccountingType
from ledger.policy import AccountCodeRule, EffectiveTimePolicy
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
"""The platform's account-code rules: what its callers pass as `LedgerStore(account_code_rules=)`."""

FEES_ACCOUNT = "platform:fees"
"""Fees the platform earns (milestone releases, donations)."""


# ------------------------------------------------------------------------ asset codes


def token_asset(chain_id: int, token: str) -> str:
    return f"PTK:{chain_id}:{token.lower()}"


def rights_asset(chain_id: int, rights_token: str, right_id: int) -> str:
    """One asset per ERC-1155 id (hex id: any uint256 keeps the code within 128 characters)."""
    return f"RGT:{chain_id}:{rights_token.lower()}:{hex(right_id)}"


def erc20_asset(chain_id: int, token: str) -> str:
    return f"ERC20:{chain_id}:{token.lower()}"


def native_asset(chain_id: int) -> str:
    return f"ETH:{chain_id}"


# ---------------------------------------------------------------------- account codes


def holder_account(chain_id: int, address: str) -> str:
    return f"holder:{chain_id}:{address.lower()}"


def mint_account(chain_id: int) -> str:
    return f"chain:{chain_id}:mint"


def world_account(chain_id: int) -> str:
    return f"external:{chain_id}:world"


def escrow_account(chain_id: int, round_address: str) -> str:
    return f"round:{chain_id}:{round_address.lower()}:escrow"


def pool_account(chain_id: int, token: str) -> str:
    return f"distribution:{chain_id}:{token.lower()}:pool"


def treasury_account(chain_id: int, portfolio_id: int) -> str:
    return f"portfolio:{chain_id}:{portfolio_id}:treasury"


def splitter_account(chain_id: int, address: str) -> str:
    """What a PayoutSplitter holds for its payees, every asset (ETH and any ERC-20) in one account."""
    return f"splitter:{chain_id}:{address.lower()}:pool"


# -------------------------------------------------------------------------- bootstrap


def platform_store(database: Database, *, effective_time_policy: EffectiveTimePolicy | None = None) -> LedgerStore:
    """A `LedgerStore` under the platform's chart: `DEFAULT_ACCOUNT_CODE_RULES`."""
    return LedgerStore(
        database, account_code_rules=DEFAULT_ACCOUNT_CODE_RULES, effective_time_policy=effective_time_policy
    )


def bootstrap_ledger(store: LedgerStore, ledger: str) -> None:
    """Create `ledger` with the default templates; templates already present are left alone."""
    store.create_ledger(ledger)
    present = {template.pattern for template in store.list_account_templates(ledger)}
    for pattern, accounting_type, no_overdraft in DEFAULT_ACCOUNT_TEMPLATES:
        if pattern not in present:
            store.add_account_template(ledger, pattern, accounting_type, no_overdraft=no_overdraft)
