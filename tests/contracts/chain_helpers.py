"""Shared helpers for the core-contract tests (registry, token, distributor, anchor, factory).

`World` is a deployed core plus one portfolio (token + distributor on the mock stablecoin) with
verified investors; tests build it once per module and isolate with the `w3` snapshot fixture.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.logs import DISCARD
from web3.types import TxReceipt

from contracts.artifacts import load_artifact
from contracts.core import (
    CoreDeployment,
    PortfolioDeployment,
    PortfolioSpec,
    deploy_dev_core,
    deploy_portfolio,
    verify_investors,
)
from contracts.deploy import decode_custom_error, transact

US = 840
FR = 250
KP = 408
MAX_UINT64 = 2**64 - 1
TOKEN = 10**18
USDC = 10**6

_ERROR_SOURCES = (
    "ComplianceRegistry",
    "PortfolioToken",
    "LedgerAnchor",
    "PortfolioFactory",
    "FundingRound",
    "DonationRouter",
    "MockStablecoin",
    "PayoutSplitter",
    "RightsToken",
)


@lru_cache(maxsize=1)
def all_error_abi() -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for name in _ERROR_SOURCES:
        for item in load_artifact(name).abi:
            if item.get("type") == "error":
                key = item["name"] + str([i["type"] for i in item["inputs"]])
                seen[key] = item
    return list(seen.values())


def revert_of(fn: Any, sender: str, value_wei: int = 0) -> tuple[str, tuple[Any, ...]]:
    """Call `fn` from `sender` expecting a custom-error revert; return (error name, args)."""
    tx: dict[str, Any] = {"from": sender}
    if value_wei:
        tx["value"] = value_wei
    try:
        fn.call(tx)
    except ContractCustomError as exc:
        data = exc.data if isinstance(exc.data, str) else exc.message
        return decode_custom_error(all_error_abi(), data)
    except ContractLogicError as exc:  # pragma: no cover - surfaced as a test failure
        raise AssertionError(f"reverted without a custom error: {exc}") from exc
    raise AssertionError(f"{fn.fn_name} did not revert")


def _checksummed(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """`values` with every 20-byte hex address in checksum case, so addresses compare regardless of case."""
    return tuple(
        Web3.to_checksum_address(a) if isinstance(a, str) and a.startswith("0x") and len(a) == 42 else a for a in values
    )


def expect_revert(fn: Any, sender: str, name: str, *args: Any) -> None:
    got_name, got_args = revert_of(fn, sender)
    assert got_name == name, f"expected {name}{args}, got {got_name}{got_args}"
    if args:
        norm = _checksummed(got_args)
        want = _checksummed(args)
        assert norm == want, f"{name}: expected args {want}, got {norm}"


def events(contract: Contract, event_name: str, receipt: TxReceipt) -> list[dict[str, Any]]:
    return [dict(e["args"]) for e in getattr(contract.events, event_name)().process_receipt(receipt, errors=DISCARD)]


def one_event(contract: Contract, event_name: str, receipt: TxReceipt) -> dict[str, Any]:
    found = events(contract, event_name, receipt)
    assert len(found) == 1, f"expected one {event_name}, got {found}"
    return found[0]


def now(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def warp(w3: Web3, seconds: int) -> None:
    w3.provider.make_request("evm_increaseTime", [seconds])
    w3.provider.make_request("evm_mine", [])


def role(contract: Contract, name: str) -> bytes:
    return getattr(contract.functions, name)().call()


@dataclass
class World:
    w3: Web3
    core: CoreDeployment
    portfolio: PortfolioDeployment
    admin: str
    treasury: str
    investors: list[str]  # verified, country US
    outsider: str  # never verified

    @property
    def agent(self) -> str:
        """AGENT_ROLE on the token: proposes recoveries."""
        return self.w3.eth.accounts[8]

    @property
    def approver(self) -> str:
        """RECOVERY_APPROVER_ROLE on the token: executes them after the delay."""
        return self.w3.eth.accounts[9]

    @property
    def token(self) -> Contract:
        return self.portfolio.token

    @property
    def distributor(self) -> Contract:
        assert self.portfolio.distributor is not None
        return self.portfolio.distributor

    @property
    def registry(self) -> Contract:
        return self.core.registry

    @property
    def stablecoin(self) -> Contract:
        assert self.core.stablecoin is not None
        return self.core.stablecoin

    def send(self, fn: Any, sender: str | None = None) -> TxReceipt:
        return transact(fn, sender or self.admin)

    def mint(self, to: str, amount: int) -> TxReceipt:
        return self.send(self.token.functions.mint(to, amount))

    def fund(self, who: str, amount: int, spender: str) -> None:
        self.send(self.stablecoin.functions.mint(who, amount))
        self.send(self.stablecoin.functions.approve(spender, 2**256 - 1), who)

    def create_portfolio(self, name: str, symbol: str, **spec: Any) -> PortfolioDeployment:
        """Another portfolio of this world's creator (admin and issuer), treasury as the world's."""
        defaults = {"admin": self.admin, "treasury": self.treasury, "issuer": self.admin}
        return deploy_portfolio(self.w3, self.core, PortfolioSpec(name=name, symbol=symbol, **(defaults | spec)))

    def deposit(self, amount: int, depositor: str | None = None) -> TxReceipt:
        depositor = depositor or self.admin
        self.fund(depositor, amount, self.distributor.address)
        return self.send(self.distributor.functions.deposit(amount), depositor)


def build_world(w3: Web3, *, name: str = "Kogi Portfolio", symbol: str = "KOGI", cap_units: int = 0) -> World:
    accounts = w3.eth.accounts
    admin, treasury = accounts[0], accounts[7]
    core = deploy_dev_core(w3)  # the creator (admin) also plays the platform here
    portfolio = deploy_portfolio(
        w3,
        core,
        PortfolioSpec(
            admin=admin,
            treasury=treasury,
            name=name,
            symbol=symbol,
            issuer=admin,
            cap_units=cap_units,
            revenue_token=core.stablecoin.address,
        ),
    )
    investors = list(accounts[1:6])
    verify_investors(core, investors + [admin, treasury], country=US)
    return World(w3, core, portfolio, admin, treasury, investors, accounts[6])


@pytest.fixture(scope="module")
def world_deployed(anvil_chain: Any) -> World:
    """Deployed once per test module, before any per-test snapshot."""
    return build_world(anvil_chain.web3())


@pytest.fixture()
def world(world_deployed: World, w3: Web3) -> World:
    """The module's world, reverted after each test (through the `w3` snapshot fixture)."""
    return world_deployed
