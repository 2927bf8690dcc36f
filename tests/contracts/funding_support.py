"""Shared test support for the funding-side contracts (FundingRound, PayoutSplitter, RightsToken,
DonationRouter): custom-error assertions and event reading."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from eth_abi import decode, encode
from eth_utils import keccak
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.logs import DISCARD

ANY = object()  # "do not check the error's arguments"


def error_abi(contract: Contract, name: str) -> dict[str, Any]:
    for item in contract.abi:
        if item["type"] == "error" and item["name"] == name:
            return item
    raise LookupError(f"{name} is not an error of this ABI")


def error_selector(contract: Contract, name: str) -> bytes:
    types = ",".join(i["type"] for i in error_abi(contract, name)["inputs"])
    return keccak(text=f"{name}({types})")[:4]


def _revert_data(exc: BaseException) -> bytes:
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if not isinstance(data, str):
        raise AssertionError(f"revert without data: {exc!r}")
    return bytes.fromhex(data[2:] if data.startswith("0x") else data)


class Revert:
    """The decoded arguments of the custom error a `reverts` block raised."""

    args: tuple[Any, ...] = ()


@contextmanager
def reverts(contract: Contract, name: str, *args: Any) -> Iterator[Revert]:
    """Assert the block reverts with custom error `name` (declared in `contract`'s ABI) and, unless
    `ANY` is given, exactly these arguments. The decoded arguments are left on the yielded object."""
    caught = Revert()
    with pytest.raises((ContractCustomError, ContractLogicError)) as info:
        yield caught
    data = _revert_data(info.value)
    selector = error_selector(contract, name)
    assert data[:4] == selector, f"expected {name} ({selector.hex()}), got {data.hex()}"
    types = [i["type"] for i in error_abi(contract, name)["inputs"]]
    caught.args = tuple(decode(types, data[4:]))
    if args and args[0] is ANY:
        return
    assert data[4:] == encode(types, list(args)), f"{name} args differ: {caught.args}"


def events(contract: Contract, receipt: Any, name: str) -> list[dict[str, Any]]:
    """Decoded `name` events emitted by `contract` in `receipt`, as plain dicts of their args."""
    found = getattr(contract.events, name)().process_receipt(receipt, errors=DISCARD)
    return [dict(e["args"]) for e in found if e["address"] == contract.address]


def one_event(contract: Contract, receipt: Any, name: str) -> dict[str, Any]:
    found = events(contract, receipt, name)
    assert len(found) == 1, f"expected one {name}, got {found}"
    return found[0]


# ---------------------------------------------------------------------------- funding environment

from dataclasses import dataclass, fields, replace  # noqa: E402

from eth_account import Account  # noqa: E402
from web3 import Web3  # noqa: E402

from contracts.deploy import deploy_contract  # noqa: E402
from contracts.funding import (  # noqa: E402
    USDC_UNIT,
    RoundConfig,
    RoundTerms,
    TokenInit,
    attach_round,
    deploy_clone_of,
    deploy_funding_round,
    deploy_registry_and_token,
    deploy_token,
    dev_private_key,
    latest_timestamp,
    send,
    warp_to,
)
from contracts.permits import sign_investment_permit  # noqa: E402

ZERO = "0x" + "00" * 20
FAR_FUTURE_S = 2**40
# Token under test: C1's PortfolioToken + ComplianceRegistry (True) or the test stand-ins (False).
USE_PORTFOLIO_TOKEN = True


@dataclass
class FundingEnv:
    w3: Web3
    stablecoin: Contract
    token: Contract
    registry: Contract
    admin: str
    investors: list[str]
    issuer: str
    arbiter: str
    treasury: str
    fee_recipient: str
    compliance: str
    signer_key: bytes
    signer: str
    start_s: int
    nonce: int = 0
    implementation: str | None = None  # FundingRound implementation reused by `round()` when set
    token_implementation: str | None = None  # PortfolioToken implementation of `fresh_token()`

    def config(self, **overrides: Any) -> RoundConfig:
        """The default round, with `overrides` of any term (RoundTerms) or party (RoundConfig) by name."""
        terms = RoundTerms(
            stablecoin=self.stablecoin.address,
            price_units=USDC_UNIT,
            soft_cap_units=1_000 * USDC_UNIT,
            hard_cap_units=5_000 * USDC_UNIT,
            min_investment_units=USDC_UNIT,
            max_investment_units=3_000 * USDC_UNIT,
            start_time_s=self.start_s,
            end_time_s=self.start_s + 86_400,
            fee_bps=250,
            milestone_bps=(3_000, 3_000, 4_000),
        )
        term_names = {f.name for f in fields(RoundTerms)}
        base = RoundConfig(
            token=self.token.address,
            treasury=self.treasury,
            fee_recipient=self.fee_recipient,
            compliance_signer=self.signer,
            issuer=self.issuer,
            arbiter=self.arbiter,
            platform=self.admin,  # a directly initialized round: the admin also plays the platform
            terms=replace(terms, **{k: v for k, v in overrides.items() if k in term_names}),
        )
        return replace(base, **{k: v for k, v in overrides.items() if k not in term_names})

    def fresh_token(self) -> Contract:
        """A new token clone on the same registry (one open round per token), now `self.token`."""
        if self.token_implementation is None:  # an EIP-1167 clone's code holds its implementation at bytes 10..30
            self.token_implementation = Web3.to_checksum_address(self.w3.eth.get_code(self.token.address)[10:30])
        init = TokenInit("Kogi Portfolio", "KPT", admin=self.admin, platform=self.admin, issuers=(self.admin,))
        self.token = deploy_token(self.w3, self.token_implementation, init, self.admin)
        return self.token

    def round(self, *, open_now: bool = True, **overrides: Any) -> Contract:
        """A round on a fresh token (`self.token`), attached to it by the platform (the admin here)."""
        if "token" not in overrides:
            self.fresh_token()
        config = self.config(**overrides)
        round_ = deploy_funding_round(self.w3, admin=self.admin, config=config, implementation=self.implementation)
        attach_round(self.token, round_.address, self.admin)
        send(round_.functions.grantRole(round_.functions.COMPLIANCE_ROLE().call(), self.compliance), self.admin)
        if open_now and latest_timestamp(self.w3) < config.terms.start_time_s:
            warp_to(self.w3, config.terms.start_time_s)
        return round_

    def fund(self, round_: Contract, investor: str, amount_units: int, stablecoin: Contract | None = None) -> None:
        coin = stablecoin or self.stablecoin
        send(coin.functions.mint(investor, amount_units), self.admin)
        send(coin.functions.approve(round_.address, 2**256 - 1), investor)

    def permit(
        self,
        round_: Contract,
        investor: str,
        amount_units: int,
        *,
        max_amount: int | None = None,
        deadline: int | None = None,
        nonce: int | None = None,
        key: bytes | None = None,
        signed_investor: str | None = None,
        signed_round: str | None = None,
    ) -> tuple[int, int, int, int, bytes]:
        """invest() arguments with a fresh (or the given) permit."""
        if nonce is None:
            self.nonce += 1
            nonce = self.nonce
        max_amount = amount_units if max_amount is None else max_amount
        deadline = latest_timestamp(self.w3) + 3_600 if deadline is None else deadline
        signature = sign_investment_permit(
            key or self.signer_key,
            chain_id=self.w3.eth.chain_id,
            round_address=signed_round or round_.address,
            investor=signed_investor or investor,
            max_amount=max_amount,
            deadline=deadline,
            nonce=nonce,
        )
        return amount_units, max_amount, deadline, nonce, signature

    def invest(self, round_: Contract, investor: str, amount_units: int, **kw: Any) -> Any:
        return send(round_.functions.invest(*self.permit(round_, investor, amount_units, **kw)), investor)

    def end(self, round_: Contract) -> None:
        warp_to(self.w3, round_.functions.endTime().call())

    def restrict(self, account: str) -> int:
        """Make `account` fail the registry as a recipient; returns the expected restriction code."""
        if USE_PORTFOLIO_TOKEN:
            send(self.registry.functions.setInvestor(account, 0, 0, False), self.admin)
            return 2  # RECIPIENT_NOT_VERIFIED
        send(self.registry.functions.setCode(account, 4), self.admin)
        return 4


def build_funding_env(w3: Web3) -> FundingEnv:
    accounts = w3.eth.accounts
    admin = accounts[0]
    signer_key = dev_private_key(9)
    stablecoin = deploy_contract(w3, "TestERC20", "USD Coin", "USDC", 6)
    if USE_PORTFOLIO_TOKEN:
        registry, token = deploy_registry_and_token(w3, admin=admin, verified=list(accounts[1:4]))
    else:
        registry = deploy_contract(w3, "TestComplianceRegistry")
        token = deploy_contract(w3, "TestMintableToken", admin, registry.address)
    return FundingEnv(
        w3=w3,
        stablecoin=stablecoin,
        token=token,
        registry=registry,
        admin=admin,
        investors=list(accounts[1:4]),
        issuer=accounts[4],
        arbiter=accounts[5],
        treasury=accounts[6],
        fee_recipient=accounts[7],
        compliance=accounts[8],
        signer_key=signer_key,
        signer=Account.from_key(signer_key).address,
        start_s=latest_timestamp(w3) + 100,
    )


__all__ = ["ANY", "FundingEnv", "build_funding_env", "deploy_clone_of", "events", "one_event", "reverts", "ZERO"]
