"""Compare mirrored ledger balances with the chain at the indexed block (`kogi reconcile`).

Checked per chain: every holder's balance of every portfolio token (`balanceOf`) and of every
rights-token id (`balanceOf(holder, id)`), each token's and id's supply (`totalSupply` against
the mint account), each round's stablecoin escrow
and each revenue pool (the ERC-20 `balanceOf` the contract). All chain reads are pinned to
the cursor's block and sent as JSON-RPC batches; the ledger is read while the cursor stays
put (re-read if the follower moved it meanwhile).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils import keccak

from indexer.mapping import (
    erc20_asset, escrow_account, mint_account, native_asset, pool_account, splitter_account, token_asset,
)
from indexer.rpc import RpcClient
from indexer.state import IndexerState
from ledger import LedgerStore
from ledger.errors import AccountNotFound, AssetNotFound

SELECTOR_BALANCE_OF = "0x" + keccak(text="balanceOf(address)")[:4].hex()
SELECTOR_TOTAL_SUPPLY = "0x" + keccak(text="totalSupply()")[:4].hex()
SELECTOR_BALANCE_OF_ID = "0x" + keccak(text="balanceOf(address,uint256)")[:4].hex()
SELECTOR_TOTAL_SUPPLY_ID = "0x" + keccak(text="totalSupply(uint256)")[:4].hex()
CALLS_PER_BATCH = 100
ACCOUNTS_PAGE = 1_000
MAX_CURSOR_RETRIES = 5


class NotIndexed(RuntimeError):
    """Nothing to reconcile: the chain has no cursor yet, or the block is not the indexed one."""


@dataclass(frozen=True)
class ReconcileRow:
    account: str
    asset: str
    ledger_units: int
    chain_units: int

    @property
    def diff_units(self) -> int:
        return self.ledger_units - self.chain_units


@dataclass(frozen=True)
class ReconcileReport:
    chain_id: int
    block: int
    rows: tuple[ReconcileRow, ...]

    @property
    def differences(self) -> list[ReconcileRow]:
        return [row for row in self.rows if row.diff_units != 0]


@dataclass(frozen=True)
class _Check:
    account: str
    asset: str
    contract: str
    data: str
    sign: int
    """+1 when the ledger balance mirrors the chain value, -1 for the mint account (equity)."""
    method: str = "eth_call"
    """`eth_getBalance` reads `contract`'s native balance (data unused): a splitter's ETH."""


def _ledger_units(store: LedgerStore, ledger: str, account: str, asset: str) -> int:
    try:
        return store.get_balance(ledger, account, asset).posted_units
    except (AccountNotFound, AssetNotFound):
        return 0


def _holders(store: LedgerStore, ledger: str, chain_id: int) -> dict[str, list[str]]:
    """Holder account → asset codes it has a balance row for (paged over accounts)."""
    prefix = f"holder:{chain_id}:"
    found: dict[str, list[str]] = {}
    after: str | None = None
    while True:
        page = store.list_accounts(ledger, prefix=prefix, after=after, limit=ACCOUNTS_PAGE)
        for account in page:
            found[account.code] = [b.asset for b in store.list_balances(ledger, account.code)]
        if len(page) < ACCOUNTS_PAGE:
            return found
        after = page[-1].code


def _checks(store: LedgerStore, state: IndexerState, ledger: str) -> list[_Check]:
    chain_id = state.chain_id
    holders = _holders(store, ledger, chain_id)
    checks: list[_Check] = []
    for address, contract in sorted(state.contracts().items()):
        if contract.kind == "token":
            asset = token_asset(chain_id, address)
            checks.append(_Check(mint_account(chain_id), asset, address, SELECTOR_TOTAL_SUPPLY, -1))
            for account, assets in sorted(holders.items()):
                if asset in assets:
                    holder = account.rsplit(":", 1)[1]
                    checks.append(_Check(account, asset, address, SELECTOR_BALANCE_OF + holder[2:].rjust(64, "0"), 1))
            if contract.asset_address:
                checks.append(_Check(pool_account(chain_id, address), erc20_asset(chain_id, contract.asset_address),
                                     contract.asset_address, SELECTOR_BALANCE_OF + address[2:].rjust(64, "0"), 1))
        elif contract.kind == "rights_token":
            prefix = f"RGT:{chain_id}:{address}:"
            right_ids = sorted({asset for assets in holders.values() for asset in assets if asset.startswith(prefix)})
            for asset in right_ids:
                id_word = asset.rsplit(":", 1)[1][2:].rjust(64, "0")
                checks.append(_Check(mint_account(chain_id), asset, address, SELECTOR_TOTAL_SUPPLY_ID + id_word, -1))
                for account, assets in sorted(holders.items()):
                    if asset in assets:
                        holder = account.rsplit(":", 1)[1]
                        checks.append(_Check(account, asset, address,
                                             SELECTOR_BALANCE_OF_ID + holder[2:].rjust(64, "0") + id_word, 1))
        elif contract.kind == "splitter":
            checks.extend(_splitter_checks(store, ledger, chain_id, address))
        elif contract.kind == "round" and contract.asset_address:
            checks.append(_Check(escrow_account(chain_id, address), erc20_asset(chain_id, contract.asset_address),
                                 contract.asset_address, SELECTOR_BALANCE_OF + address[2:].rjust(64, "0"), 1))
    return checks


def _splitter_checks(store: LedgerStore, ledger: str, chain_id: int, splitter: str) -> list[_Check]:
    """One check per asset the splitter's pool has a balance row for: ETH against eth_getBalance,
    an ERC-20 against its balanceOf(splitter). A splitter nothing was mirrored for has no rows."""
    account = splitter_account(chain_id, splitter)
    try:
        assets = [balance.asset for balance in store.list_balances(ledger, account)]
    except AccountNotFound:
        return []
    checks: list[_Check] = []
    for asset in assets:
        if asset == native_asset(chain_id):
            checks.append(_Check(account, asset, splitter, "", 1, method="eth_getBalance"))
        elif asset.startswith(f"ERC20:{chain_id}:"):
            token = asset.rsplit(":", 1)[1]
            checks.append(_Check(account, asset, token, SELECTOR_BALANCE_OF + splitter[2:].rjust(64, "0"), 1))
    return checks


def _rpc_call(check: _Check, block_tag: object) -> tuple[str, list[object]]:
    """The JSON-RPC request reading one check's chain value at `block_tag`."""
    if check.method == "eth_getBalance":
        return "eth_getBalance", [check.contract, block_tag]
    return "eth_call", [{"to": check.contract, "data": check.data}, block_tag]


def _chain_values(rpc: RpcClient, checks: Sequence[_Check], block: int) -> list[int]:
    values: list[int] = []
    for start in range(0, len(checks), CALLS_PER_BATCH):
        chunk = checks[start:start + CALLS_PER_BATCH]
        results = rpc.batch([_rpc_call(c, hex(block)) for c in chunk])
        values.extend(int(result, 16) if result not in ("0x", None) else 0 for result in results)
    return values


def reconcile(
    store: LedgerStore, rpc: RpcClient, *, chain_id: int, ledger: str = "main", block: int | None = None
) -> ReconcileReport:
    """Ledger vs chain for every mirrored balance at the indexed block."""
    state = IndexerState(store.db, chain_id)
    for _ in range(MAX_CURSOR_RETRIES):
        cursor = state.cursor()
        if cursor is None:
            raise NotIndexed(f"chain {chain_id} has not been indexed into this database")
        if block is not None and block != cursor.last_block:
            raise NotIndexed(
                f"the ledger mirrors chain {chain_id} up to block {cursor.last_block}; reconciling at block {block} "
                "needs the ledger as of that block (not supported yet): omit --block or stop the indexer there"
            )
        checks = _checks(store, state, ledger)
        ledger_values = [_ledger_units(store, ledger, c.account, c.asset) for c in checks]
        again = state.cursor()
        if again == cursor:
            chain_values = _chain_values(rpc, checks, cursor.last_block)
            rows = tuple(
                ReconcileRow(c.account, c.asset, ledger_units, c.sign * chain_units)
                for c, ledger_units, chain_units in zip(checks, ledger_values, chain_values)
            )
            return ReconcileReport(chain_id, cursor.last_block, rows)
    raise RuntimeError(f"the indexer kept moving chain {chain_id}'s cursor; try again or stop it")
