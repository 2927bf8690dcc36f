"""Compare mirrored ledger balances with the chain at an indexed block (`kogi reconcile`).

Checked per chain: every holder's balance of every portfolio token (`balanceOf`) and of every
rights-token id (`balanceOf(holder, id)`), each token's and id's supply (`totalSupply` against
the mint account), each round's stablecoin escrow
and each revenue pool (the ERC-20 `balanceOf` the contract). All chain reads are pinned to
block N (default: the cursor's block) and sent as JSON-RPC batches.

The ledger side is the ledger as of block N: every balance is read `as_of_sequence` S, where
S is the journal sequence of the newest checkpoint at or below N (`indexer_checkpoints`: the
last entry of each block that produced entries), extended over the entries sealed after it
up to the first entry this chain's follower posted for a block above N (so entries written
outside the follower — a tampered ledger — are seen, and a step posted but not yet committed
by the cursor is not). History as of a sequence never changes, so the values are stable; what
can change is which S stands for N (a reorg rewinding below N), so the checkpoint is re-read
afterwards, and the chain's hash of N (and of the checkpoint's block) is compared with the
indexed one: a reorganised block is an error, never a misleading table. A chain now shorter
than block N is "reorganised" when the newest indexed block it still has differs (else the node
lags behind).

The contracts' configuration is compared too (`ReconcileReport.config`): every contract
registered at or below N must have code at N; a token's `revenueToken()` and a round's
`stablecoin()` and `token()` at N must be what the registration says (the assets its revenue and
escrow are booked in); and every contract the indexer discovered must have been created by a
followed factory's `PortfolioCreated` at the registered block, with the registered kind and
portfolio id. A reorg that replaced a portfolio's creation leaves a stale registration that
balances alone may not show.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils.crypto import keccak
from sqlalchemy import func, select

from indexer.decode import decode_log, events_of_kind
from indexer.mapping import ZERO_ADDRESS, ContractInfo
from indexer.rpc import RpcClient, RpcError
from indexer.state import FACTORY_KINDS, CheckpointAt, IndexerState, contracts_t
from ledger import LedgerStore
from ledger.chart import (
    erc20_asset,
    escrow_account,
    mint_account,
    native_asset,
    pool_account,
    splitter_account,
    token_asset,
)
from ledger.errors import AccountNotFound, AssetNotFound, LedgerNotFound

SELECTOR_BALANCE_OF = "0x" + keccak(text="balanceOf(address)")[:4].hex()
SELECTOR_TOTAL_SUPPLY = "0x" + keccak(text="totalSupply()")[:4].hex()
SELECTOR_BALANCE_OF_ID = "0x" + keccak(text="balanceOf(address,uint256)")[:4].hex()
SELECTOR_TOTAL_SUPPLY_ID = "0x" + keccak(text="totalSupply(uint256)")[:4].hex()
SELECTOR_REVENUE_TOKEN = "0x" + keccak(text="revenueToken()")[:4].hex()
SELECTOR_STABLECOIN = "0x" + keccak(text="stablecoin()")[:4].hex()
SELECTOR_TOKEN = "0x" + keccak(text="token()")[:4].hex()
PORTFOLIO_CREATED_TOPIC = next(
    topic for topic, event in events_of_kind("factory").items() if event.name == "PortfolioCreated"
)
CREATED_KIND_OF_KEY = {"token": "token", "round": "round", "splitter": "splitter", "rightsToken": "rights_token"}
"""PortfolioCreated argument → the kind the follower registers that address as."""
CALLS_PER_BATCH = 100
ACCOUNTS_PAGE = 1_000
MAX_CURSOR_RETRIES = 5
MAX_SCANNED_ENTRIES = 10_000
"""Entries after a block's checkpoint looked at for ones written outside the follower (bounded:
a ledger shared with a busy chain must not be scanned to its end)."""
SCAN_PAGE = 1_000
ARCHIVE_ERROR_MARKERS = (
    "missing trie node",
    "header not found",
    "pruned",
    "historical state",
    "state not available",
    "state is not available",
    "state unavailable",
    "state histories",
    "unknown block",
    "no state",
)
"""Texts of nodes answering for a block whose state they no longer keep (geth, erigon, reth,
nethermind, hosted providers): reconciling there needs an archive node."""


class ReconcileError(RuntimeError):
    """Reconciling cannot give a trustworthy table; the message says why (one line)."""


class NotIndexed(ReconcileError):
    """Nothing to reconcile: the chain has no cursor yet, or the block is outside the indexed range."""


class ChainMismatch(ReconcileError):
    """The RPC serves another chain than the one asked for."""


class BlockReorganised(ReconcileError):
    """The chain's block N (or the block the ledger's state at N stems from) is not the indexed one."""


class ArchiveNodeNeeded(ReconcileError):
    """The RPC node no longer has the state of block N (a pruned, non-archive node)."""


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
class ConfigRow:
    """One compared item of a registered contract's configuration (`indexer_contracts`)."""

    contract: str
    kind: str
    item: str
    """code, revenueToken, stablecoin, token (a round's portfolio token) or created (by which
    factory event: kind, portfolio id, block)."""
    indexed: str
    chain: str

    @property
    def differs(self) -> bool:
        return self.indexed != self.chain


@dataclass(frozen=True)
class ReconcileReport:
    chain_id: int
    block: int
    rows: tuple[ReconcileRow, ...]
    config: tuple[ConfigRow, ...] = ()
    """The registered contracts' configuration against the chain at `block`."""

    @property
    def differences(self) -> list[ReconcileRow]:
        """Balance differences (see `config_differences` for the contracts' configuration)."""
        return [row for row in self.rows if row.diff_units != 0]

    @property
    def config_differences(self) -> list[ConfigRow]:
        return [row for row in self.config if row.differs]


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


def _ledger_units(store: LedgerStore, ledger: str, account: str, asset: str, as_of_sequence: int | None = None) -> int:
    """Posted balance (as of the sequence when given); 0 for an account or asset that does not
    exist (yet): nothing was mirrored into it."""
    if as_of_sequence == 0:
        return 0  # an empty journal: get_balance(as_of_sequence=None) would be "now"
    try:
        return store.get_balance(ledger, account, asset, as_of_sequence=as_of_sequence).posted_units
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
                checks.append(
                    _Check(
                        pool_account(chain_id, address),
                        erc20_asset(chain_id, contract.asset_address),
                        contract.asset_address,
                        SELECTOR_BALANCE_OF + address[2:].rjust(64, "0"),
                        1,
                    )
                )
        elif contract.kind == "rights_token":
            prefix = f"RGT:{chain_id}:{address}:"
            right_ids = sorted({asset for assets in holders.values() for asset in assets if asset.startswith(prefix)})
            for asset in right_ids:
                id_word = asset.rsplit(":", 1)[1][2:].rjust(64, "0")
                checks.append(_Check(mint_account(chain_id), asset, address, SELECTOR_TOTAL_SUPPLY_ID + id_word, -1))
                for account, assets in sorted(holders.items()):
                    if asset in assets:
                        holder = account.rsplit(":", 1)[1]
                        checks.append(
                            _Check(
                                account, asset, address, SELECTOR_BALANCE_OF_ID + holder[2:].rjust(64, "0") + id_word, 1
                            )
                        )
        elif contract.kind == "splitter":
            checks.extend(_splitter_checks(store, ledger, chain_id, address))
        elif contract.kind == "round" and contract.asset_address:
            checks.append(
                _Check(
                    escrow_account(chain_id, address),
                    erc20_asset(chain_id, contract.asset_address),
                    contract.asset_address,
                    SELECTOR_BALANCE_OF + address[2:].rjust(64, "0"),
                    1,
                )
            )
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
        chunk = checks[start : start + CALLS_PER_BATCH]
        results = rpc.batch([_rpc_call(c, hex(block)) for c in chunk])
        values.extend(int(result, 16) if result not in ("0x", None) else 0 for result in results)
    return values


def _first_block(state: IndexerState) -> int | None:
    """The cursor's first block: the one before the earliest followed contract's block (the
    manifest's `start_block` is its earliest deployment; the follower starts at start_block - 1).
    The start row of `indexer_blocks` is pruned once it leaves the reorg window, so the
    contracts (never pruned below a rollback) are the lasting record. None without contracts."""
    with state.db.read() as conn:
        earliest = conn.execute(
            select(func.min(contracts_t.c.discovered_at_block)).where(contracts_t.c.chain_id == state.chain_id)
        ).scalar()
    return None if earliest is None else max(0, int(earliest) - 1)


def _ledger_sequence(
    store: LedgerStore, state: IndexerState, ledger: str, number: int
) -> tuple[int, CheckpointAt | None]:
    """(S, checkpoint): the ledger as of block `number` is the ledger as of sequence S (0: empty).

    S starts at the newest checkpoint at or below the block and runs over the entries sealed
    after it until the first one this chain's follower posted for a block after the checkpoint's
    (metadata `chain_id` + `block_number`; without a checkpoint: after `number`), at most
    MAX_SCANNED_ENTRIES: entries written outside the follower (another chain, an operator, a
    tamperer) right after the block are part of the ledger at that block; a step the follower
    posted but whose cursor move is not committed yet is not (it has no checkpoint yet and would
    otherwise show as differences). Follower entries for blocks between the checkpoint's and
    `number` can only be orphaned ones (a canonical block with entries has its own checkpoint),
    sealed before their reversals: they are not part of the ledger at `number` either."""
    checkpoint = state.checkpoint_at(number, ledger)
    sequence = 0 if checkpoint is None else checkpoint.sequence
    after_block = number if checkpoint is None else checkpoint.block_number
    head, _ = store.head(ledger)
    limit = min(head, sequence + MAX_SCANNED_ENTRIES)
    page_size = 20
    while sequence < limit:
        page = store.list_entries(ledger, after_sequence=sequence, limit=min(page_size, limit - sequence))
        if not page:
            break
        for entry in page:
            metadata = entry.metadata or {}
            later = metadata.get("block_number")
            if metadata.get("chain_id") == state.chain_id and isinstance(later, int) and later > after_block:
                return sequence, checkpoint
            sequence = entry.sequence
        page_size = min(SCAN_PAGE, page_size * 4)
    return sequence, checkpoint


def _indexed_hashes(
    state: IndexerState, cursor_block: int, cursor_hash: str, number: int, checkpoint: CheckpointAt | None
) -> list[tuple[int, str]]:
    """(block, hash) pairs the ledger's state at `number` rests on, as far as the index knows:
    block `number` itself (the cursor's hash, or a kept recent hash, or its checkpoint's) and
    the checkpoint's block (the block whose entries end the ledger state at `number`)."""
    pairs: list[tuple[int, str]] = []
    if number == cursor_block:
        pairs.append((number, cursor_hash))
    else:
        recent = state.recent_blocks().get(number)
        if recent is not None:
            pairs.append((number, recent))
    if checkpoint is not None:
        pairs.append((checkpoint.block_number, checkpoint.block_hash))
    return pairs


def _check_not_reorganised(
    chain_id: int, number: int, indexed: Sequence[tuple[int, str]], chain: dict[int, str]
) -> None:
    for block_number, indexed_hash in indexed:
        if chain[block_number].lower() != indexed_hash.lower():
            which = (
                ""
                if block_number == number
                else (f" (block {block_number}, whose entries the ledger holds at it, differs)")
            )
            raise BlockReorganised(
                f"block {number} of chain {chain_id} was reorganised; the ledger has not caught up{which}: the chain "
                f"has {chain[block_number]} at block {block_number}, the ledger indexed {indexed_hash}; let the "
                "indexer run, then reconcile again"
            )


def _check_shorter_chain(
    rpc: RpcClient, state: IndexerState, ledger: str, chain_id: int, number: int, head: int
) -> None:
    """Block `number` is above the chain's head. The newest indexed block the chain still has (a
    kept recent hash, and the newest checkpoint at or below the head) tells a reorganised, now
    shorter chain (BlockReorganised, however deep) from a node that lags behind (ReconcileError)."""
    stored = {n: h for n, h in state.recent_blocks().items() if n <= head}
    pairs = [(max(stored), stored[max(stored)])] if stored else []
    checkpoint = state.checkpoint_at(head, ledger)
    if checkpoint is not None:
        pairs.append((checkpoint.block_number, checkpoint.block_hash))
    chain = {n: header.hash for n, header in rpc.get_headers([n for n, _ in pairs]).items()}
    for block_number, indexed_hash in sorted(pairs, reverse=True):
        if chain[block_number].lower() != indexed_hash.lower():
            raise BlockReorganised(
                f"block {number} of chain {chain_id} was reorganised; the ledger has not caught up: the chain is "
                f"shorter now (head {head}) and has {chain[block_number]} at block {block_number}, the ledger "
                f"indexed {indexed_hash}; let the indexer run (a reorg deeper than its window stops it with a "
                "reorg_too_deep alert), then reconcile again"
            )
    raise ReconcileError(
        f"block {number} of chain {chain_id} is not available from the RPC (its head is {head}) although the "
        "blocks it has match the ledger's: the node lags behind; try again later or use another RPC"
    )


def _archive_error(exc: RpcError, number: int, chain_id: int) -> ArchiveNodeNeeded | None:
    text = f"{exc.rpc_message} {exc.data or ''}".lower()
    if any(marker in text for marker in ARCHIVE_ERROR_MARKERS):
        return ArchiveNodeNeeded(
            f"the RPC node has no state for block {number} of chain {chain_id} ({exc.rpc_message}): reconciling "
            "at that block needs an archive node (or a block recent enough for this node)"
        )
    return None


def _chain_values_at(rpc: RpcClient, checks: Sequence[_Check], number: int, chain_id: int) -> list[int]:
    """`_chain_values`, with a pruned node's refusal turned into a readable ArchiveNodeNeeded."""
    try:
        return _chain_values(rpc, checks, number)
    except RpcError as exc:
        archive = _archive_error(exc, number, chain_id)
        if archive is not None:
            raise archive from exc
        raise


def _address_word(result: object) -> str:
    """An ABI-encoded address result as "0x…" ("none" for the zero address or no answer)."""
    if not isinstance(result, str) or len(result) < 42:
        return "none"
    address = "0x" + result[-40:].lower()
    return "none" if address == ZERO_ADDRESS else address


def _created(rpc: RpcClient, registered: Sequence[tuple[ContractInfo, int]], number: int) -> dict[str, str]:
    """Address → "kind of portfolio P at block B" for every contract a followed factory's
    PortfolioCreated created up to block `number` (one eth_getLogs walk over the factories)."""
    factories = [info.address for info, _ in registered if info.kind == "factory"]
    discovered = [block for info, block in registered if info.kind in FACTORY_KINDS]
    if not factories or not discovered:
        return {}
    created: dict[str, str] = {}
    for raw_log in rpc.get_logs(min(discovered), number, factories, [[PORTFOLIO_CREATED_TOPIC]]):
        decoded = None if raw_log.get("removed") else decode_log("factory", raw_log)
        if decoded is None or decoded[0] != "PortfolioCreated":
            continue
        args, block = decoded[1], int(raw_log["blockNumber"], 16)
        for key, kind in CREATED_KIND_OF_KEY.items():
            address = str(args[key]).lower()
            if address != ZERO_ADDRESS:
                created[address] = f"{kind} of portfolio {int(args['portfolioId'])} at block {block}"
    return created


def _config_rows(rpc: RpcClient, state: IndexerState, number: int, chain_id: int) -> list[ConfigRow]:
    """The configuration of every contract registered at or below block `number` against the chain
    at `number` (see the module docstring). JSON-RPC batches of CALLS_PER_BATCH."""
    registered = [(info, block) for info, block in state.registrations() if block <= number]
    tag = hex(number)
    calls: list[tuple[str, list[object]]] = []
    wanted: list[tuple[ContractInfo, str]] = []
    for info, _ in registered:
        calls.append(("eth_getCode", [info.address, tag]))
        wanted.append((info, "code"))
        selectors = {
            "token": [("revenueToken", SELECTOR_REVENUE_TOKEN)],
            "round": [("stablecoin", SELECTOR_STABLECOIN), ("token", SELECTOR_TOKEN)],
        }.get(info.kind, [])
        for item, selector in selectors:
            calls.append(("eth_call", [{"to": info.address, "data": selector}, tag]))
            wanted.append((info, item))
    try:
        results: list[object] = []
        for start in range(0, len(calls), CALLS_PER_BATCH):
            results.extend(rpc.batch(calls[start : start + CALLS_PER_BATCH]))
        created = _created(rpc, registered, number)
    except RpcError as exc:
        archive = _archive_error(exc, number, chain_id)
        if archive is not None:
            raise archive from exc
        raise
    tokens = {info.portfolio_id: info.address for info, _ in registered if info.kind == "token"}
    has_code = {
        info.address: result not in (None, "0x", "")
        for (info, item), result in zip(wanted, results, strict=True)
        if item == "code"
    }
    rows: list[ConfigRow] = []
    for (info, item), result in zip(wanted, results, strict=True):
        if item == "code":
            rows.append(
                ConfigRow(
                    info.address,
                    info.kind,
                    "code",
                    "contract",
                    "contract" if has_code[info.address] else f"no code at block {number}",
                )
            )
        elif has_code[info.address]:  # a contract without code answers nothing: its code row says why
            indexed = tokens.get(info.portfolio_id) if item == "token" else info.asset_address
            rows.append(ConfigRow(info.address, info.kind, item, (indexed or "none").lower(), _address_word(result)))
    for info, block in registered:
        if info.kind in FACTORY_KINDS:
            rows.append(
                ConfigRow(
                    info.address,
                    info.kind,
                    "created",
                    f"{info.kind} of portfolio {info.portfolio_id} at block {block}",
                    created.get(info.address, f"not created by a followed factory up to block {number}"),
                )
            )
    return rows


def reconcile(
    store: LedgerStore, rpc: RpcClient, *, chain_id: int, ledger: str = "main", block: int | None = None
) -> ReconcileReport:
    """Ledger vs chain for every mirrored balance at block `block` (default: the cursor's block).

    The block must lie in the indexed range [the cursor's first block, the cursor]; the RPC must
    serve `chain_id`. Safe while the follower runs: the result is retried if the checkpoint
    behind the block or the chain's block changed while it was read, and a reorganised block is
    reported as BlockReorganised. Raises ReconcileError subclasses for every refusal."""
    served = rpc.chain_id()
    if served != chain_id:
        raise ChainMismatch(f"the RPC serves chain {served}, not chain {chain_id}: use an RPC URL of chain {chain_id}")
    state = IndexerState(store.db, chain_id)
    for _ in range(MAX_CURSOR_RETRIES):
        cursor = state.cursor()
        if cursor is None:
            raise NotIndexed(f"chain {chain_id} has not been indexed into this database")
        number = cursor.last_block if block is None else block
        if number > cursor.last_block:
            raise NotIndexed(
                f"block {number} is not indexed yet: the ledger mirrors chain {chain_id} up to block "
                f"{cursor.last_block}"
            )
        first = _first_block(state)
        if first is not None and number < first:
            raise NotIndexed(
                f"block {number} was never indexed: the indexer of chain {chain_id} starts at block "
                f"{first} (the ledger knows nothing before it)"
            )
        try:
            sequence, checkpoint = _ledger_sequence(store, state, ledger, number)
        except LedgerNotFound as exc:
            raise ReconcileError(f"ledger {ledger!r} does not exist in this database") from exc
        indexed = _indexed_hashes(state, cursor.last_block, cursor.last_block_hash, number, checkpoint)
        head = rpc.head()
        if number > head:
            _check_shorter_chain(rpc, state, ledger, chain_id, number, head)
        chain = {n: header.hash for n, header in rpc.get_headers([number, *(n for n, _ in indexed)]).items()}
        _check_not_reorganised(chain_id, number, indexed, chain)
        checks = _checks(store, state, ledger)
        ledger_values = [_ledger_units(store, ledger, c.account, c.asset, sequence) for c in checks]
        chain_values = _chain_values_at(rpc, checks, number, chain_id)
        config = _config_rows(rpc, state, number, chain_id)
        if rpc.get_headers([number])[number].hash != chain[number]:
            continue  # the chain replaced block N while it was read: the values may mix two blocks
        again = state.cursor()
        if again is None or again.last_block < number or state.checkpoint_at(number, ledger) != checkpoint:
            continue  # a rewind below N: the ledger's state at N is being rebuilt
        rows = tuple(
            ReconcileRow(c.account, c.asset, ledger_units, c.sign * chain_units)
            for c, ledger_units, chain_units in zip(checks, ledger_values, chain_values, strict=True)
        )
        return ReconcileReport(chain_id, number, rows, tuple(config))
    raise ReconcileError(f"chain {chain_id}'s indexed state at the block kept changing (reorgs?); try again")
