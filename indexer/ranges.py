"""Read one block range of a chain and turn it into entry requests: headers, followed logs, the
contracts the factory created in it, anchors.

It lives apart from the follower because two processes run it: the follower (inline reads and a
rollback's canonical blocks, indexer.reorg) and the reader process (indexer.reader), which reads
the next range ahead and must not depend on the follower. A read only reads; what it discovers
is registered through the `ContractRegistry` it is given (the follower's state, or the reader's
capturing one that sends the discoveries back).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from eth_utils.crypto import keccak

from indexer.anchors import AnchorRecord, DecodedEvent, anchor_records
from indexer.decode import (
    ARTIFACT_OF_KIND,
    ERC20_TRANSFER_TOPIC,
    address_topic,
    decode_erc20_transfer,
    decode_log,
    followed_topics,
)
from indexer.mapping import SPLITTER_TOKEN_TRANSFER, ZERO_ADDRESS, ChainEvent, ContractInfo, entries_for
from indexer.rpc import BlockHeader, RpcClient
from ledger import EntryRequest, LedgerStore

SELECTOR_REVENUE_TOKEN = "0x" + keccak(text="revenueToken()")[:4].hex()
SELECTOR_STABLECOIN = "0x" + keccak(text="stablecoin()")[:4].hex()

Discovery = tuple[ContractInfo, int]
"""A contract the factory created, with the block that created it."""
PlacedRequest = tuple[EntryRequest, int, str]
"""An entry request with the number and hash of the block that produced it."""


class ContractRegistry(Protocol):
    """Where a read looks up the followed contracts and registers the ones it discovers."""

    def contracts(self, up_to_block: int | None = None) -> dict[str, ContractInfo]: ...

    def add_contracts(self, contracts: Sequence[Discovery], *, replace: bool = False) -> None: ...


@dataclass(frozen=True)
class Range:
    """What one read of (after_block, to_block] produced, ready to post."""

    from_block: int
    to_block: int
    to_header: BlockHeader
    kept: list[BlockHeader]
    """Headers inside the reorg window (their hashes are recorded)."""
    keep_from: int
    requests: list[PlacedRequest]
    """(entry request, block number, block hash) in chain order."""
    events: int
    anchors: list[AnchorRecord]
    discovered: list[Discovery] = field(default_factory=list)
    """Contracts the factory created in the range, as the chain describes them now, with their
    block (registered before posting; by a rollback, in its ledger transaction)."""

    @cached_property
    def assets(self) -> set[str]:
        """Asset codes the range's entries touch (read ahead or not, created before posting)."""
        return {leg.asset for request, _, _ in self.requests for leg in request.legs}


def linked(headers: dict[int, BlockHeader], numbers: Sequence[int]) -> bool:
    """Consecutive headers form one chain (a batch answered across a reorg would not)."""
    return all(headers[n].parent_hash == headers[n - 1].hash for n in numbers if n - 1 in headers)


class RangeFetcher:
    """Reads ranges of one chain for one ledger. Holds no state between reads besides its inputs."""

    splitters_per_log_filter = 100
    """Splitter addresses per OR-list in topic position 2 (providers bound filter sizes)."""

    def __init__(
        self,
        rpc: RpcClient,
        registry: ContractRegistry,
        store: LedgerStore,
        *,
        chain_id: int,
        ledger: str,
        confirmations: int,
    ) -> None:
        self.rpc = rpc
        self.registry = registry
        self.store = store
        """Only read: the ledger's `ERC20:<chain>:*` assets name the tokens watched into splitters."""
        self.chain_id = chain_id
        self.ledger = ledger
        self.confirmations = confirmations
        self._topics = followed_topics()

    def read(self, after_block: int, after_hash: str, to_block: int, *, register: bool = True) -> Range | None:
        """Headers, logs and entry requests of (after_block, to_block], or None when the chain
        changed while it was read (nothing is posted then; the caller starts over).

        Contracts are the ones registered up to `after_block` plus those the factory creates in
        the range, described as the chain has them now (a registration above `after_block` is
        left over from an orphaned or abandoned read and is ignored, then replaced). They are
        registered at the end of the read when `register` (before posting), else only returned
        in `discovered` (a rollback registers them in its ledger transaction)."""
        from_block = after_block + 1
        keep_from = max(0, to_block - self.confirmations)
        window = list(range(max(from_block, keep_from), to_block + 1))
        headers = self.rpc.get_headers([from_block, to_block, *window])
        if headers[from_block].parent_hash != after_hash or not linked(headers, window):
            return None
        contracts = self.registry.contracts(up_to_block=after_block)
        events, discovered = self._fetch_events(from_block, to_block, contracts)
        missing = sorted({e[0] for e in events} - set(headers))
        headers.update(self.rpc.get_headers(missing))
        if (
            any(headers[number].hash != block_hash for number, block_hash, _, _ in events)
            or self.rpc.get_headers([to_block])[to_block].hash != headers[to_block].hash
        ):
            return None  # nothing was registered: the discoveries go with the read
        requests, anchors = self._requests(events, contracts, headers)
        if register and discovered:
            self.registry.add_contracts(discovered, replace=True)
        return Range(
            from_block,
            to_block,
            headers[to_block],
            [headers[n] for n in window],
            keep_from,
            requests,
            len(events),
            anchors,
            discovered,
        )

    def _requests(
        self, events: Sequence[DecodedEvent], contracts: dict[str, ContractInfo], headers: dict[int, BlockHeader]
    ) -> tuple[list[PlacedRequest], list[AnchorRecord]]:
        """The events mapped to entry requests in chain order, and the anchors among them (an
        anchor moves no value: it is recorded beside the ledger, indexer.anchors)."""
        requests: list[PlacedRequest] = []
        anchor_events = []
        for event_tuple in events:
            number, block_hash, contract_address, (raw_log, name, args) = event_tuple
            contract = contracts[contract_address]
            if contract.kind == "anchor":
                anchor_events.append(event_tuple)
            event = ChainEvent(
                chain_id=self.chain_id,
                address=contract_address,
                contract_kind=contract.kind,
                name=name,
                args=args,
                block_number=number,
                block_hash=block_hash,
                block_timestamp_s=headers[number].timestamp_s,
                tx_hash=raw_log["transactionHash"].lower(),
                log_index=int(raw_log["logIndex"], 16),
            )
            for request in entries_for(event, contract):
                requests.append((request, number, block_hash))
        anchors: list[AnchorRecord] = []
        if anchor_events:
            anchors = anchor_records(self.chain_id, anchor_events)
        return requests, anchors

    def _fetch_events(
        self,
        from_block: int,
        to_block: int,
        contracts: dict[str, ContractInfo],
    ) -> tuple[list[DecodedEvent], list[Discovery]]:
        """Decoded followed events in [from_block, to_block] and the contracts discovered there:
        portfolios created in the range are added to `contracts` (not registered: the caller
        does) and their own logs fetched from the creation block on."""
        found: list[Discovery] = []
        addresses = [a for a, c in contracts.items() if c.kind in ARTIFACT_OF_KIND]
        raw = self.rpc.get_logs(from_block, to_block, addresses, [self._topics])
        seen: set[tuple[int, int]] = set()
        decoded: list[DecodedEvent] = []
        pending = list(raw)
        while pending:
            discovered = self._decode_new(pending, contracts, seen, decoded)
            pending = []
            if discovered:
                found.extend(discovered)
                for info, _ in discovered:
                    contracts[info.address] = info
                first = min(block for _, block in discovered)
                new = [info.address for info, _ in discovered if info.kind in ARTIFACT_OF_KIND]
                pending = self.rpc.get_logs(first, to_block, new, [self._topics])
        decoded = [item for item in decoded if not self._about_portfolio_token(item, contracts)]
        decoded.extend(self._splitter_token_transfers(from_block, to_block, contracts, decoded, seen))
        decoded.sort(key=lambda item: (item[0], int(item[3][0]["logIndex"], 16)))
        return decoded, found

    def _decode_new(
        self,
        raw_logs: Sequence[dict[str, Any]],
        contracts: dict[str, ContractInfo],
        seen: set[tuple[int, int]],
        decoded: list[DecodedEvent],
    ) -> list[Discovery]:
        """Decode the logs not seen before into `decoded`; returns the contracts that the factory's
        PortfolioCreated events among them created (their logs are fetched next)."""
        discovered: list[Discovery] = []
        for raw_log in raw_logs:
            position = (int(raw_log["blockNumber"], 16), int(raw_log["logIndex"], 16))
            if position in seen or raw_log.get("removed"):
                continue
            seen.add(position)
            address = raw_log["address"].lower()
            contract = contracts.get(address)
            if contract is None or contract.kind not in ARTIFACT_OF_KIND:
                continue
            result = decode_log(contract.kind, raw_log)
            if result is None:
                continue
            name, args = result
            decoded.append((position[0], raw_log["blockHash"].lower(), address, (raw_log, name, args)))
            if contract.kind == "factory" and name == "PortfolioCreated":
                discovered.extend(self._portfolio_contracts(args, position[0]))
        return discovered

    @staticmethod
    def _about_portfolio_token(item: DecodedEvent, contracts: dict[str, ContractInfo]) -> bool:
        """A splitter event moving a followed portfolio token: that token's own Transfer logs
        already mirror both directions (`holder:<chain>:<splitter>`), so the splitter's event
        must not move it a second time (as if it were a foreign ERC-20)."""
        address, (_, name, args) = item[2], item[3]
        if contracts[address].kind != "splitter" or name not in ("PaymentReceived", "PaymentReleased"):
            return False
        token = contracts.get(str(args["token"]).lower())
        return token is not None and token.kind == "token"

    def _splitter_token_transfers(
        self,
        from_block: int,
        to_block: int,
        contracts: dict[str, ContractInfo],
        decoded: Sequence[DecodedEvent],
        seen: set[tuple[int, int]],
    ) -> list[DecodedEvent]:
        """ERC-20 Transfer logs INTO followed splitters, handed over as events of the splitter
        (mapping.SPLITTER_TOKEN_TRANSFER): a plain transfer leaves no splitter log, so the token's
        own log is the only record; deposit() is caught the same way. No call without splitters."""
        splitters = sorted(a for a, c in contracts.items() if c.kind == "splitter")
        tokens = self._watched_tokens(contracts, decoded) if splitters else []
        found: list[DecodedEvent] = []
        if not tokens:
            return found
        for start in range(0, len(splitters), self.splitters_per_log_filter):
            recipients = [address_topic(a) for a in splitters[start : start + self.splitters_per_log_filter]]
            for raw_log in self.rpc.get_logs(from_block, to_block, tokens, [[ERC20_TRANSFER_TOPIC], None, recipients]):
                position = (int(raw_log["blockNumber"], 16), int(raw_log["logIndex"], 16))
                args = decode_erc20_transfer(raw_log)
                if position in seen or raw_log.get("removed") or args is None or args["to"] not in contracts:
                    continue
                seen.add(position)
                found.append(
                    (position[0], raw_log["blockHash"].lower(), args["to"], (raw_log, SPLITTER_TOKEN_TRANSFER, args))
                )
        return found

    def _watched_tokens(self, contracts: dict[str, ContractInfo], decoded: Sequence[DecodedEvent]) -> list[str]:
        """ERC-20s whose Transfers into splitters are mirrored (documented in MAPPING.md): the Kogi
        contracts' ERC-20s, the ledger's `ERC20:<chain>:*` assets (tokens met before, restarts
        included) and the tokens named by this range's splitter events. Followed portfolio tokens
        are left out: their own Transfer logs are mirrored already."""
        tokens = {c.asset_address for c in contracts.values() if c.asset_address}
        prefix = f"ERC20:{self.chain_id}:"
        tokens |= {a.code[len(prefix) :] for a in self.store.list_assets(self.ledger) if a.code.startswith(prefix)}
        tokens |= {
            str(args["token"]).lower()
            for _, _, address, (_, name, args) in decoded
            if contracts[address].kind == "splitter" and name in ("PaymentReceived", "PaymentReleased")
        }
        return sorted(t.lower() for t in tokens if t.lower() != ZERO_ADDRESS and t.lower() not in contracts)

    def _portfolio_contracts(self, args: dict[str, Any], block: int) -> list[Discovery]:
        """The contracts of one PortfolioCreated event, with the ERC-20 each one moves (read from
        the chain at the creation block: the event does not name it)."""
        portfolio_id = int(args["portfolioId"])
        found: list[Discovery] = []
        token = str(args["token"]).lower()
        found.append(
            (
                ContractInfo(
                    self.chain_id,
                    token,
                    "token",
                    portfolio_id,
                    self._address_call(token, SELECTOR_REVENUE_TOKEN, block),
                ),
                block,
            )
        )
        for kind, key in (("round", "round"), ("splitter", "splitter"), ("rights_token", "rightsToken")):
            address = str(args[key]).lower()
            if address == ZERO_ADDRESS:
                continue
            asset = self._address_call(address, SELECTOR_STABLECOIN, block) if kind == "round" else None
            found.append((ContractInfo(self.chain_id, address, kind, portfolio_id, asset), block))
        return found

    def _address_call(self, to: str, selector: str, block: int) -> str | None:
        result = self.rpc.eth_call(to, selector, block)
        address = "0x" + result[-40:].lower()
        return None if address == ZERO_ADDRESS else address
