"""The T-REX (ERC-3643) gas peer of `kogi bench gas`: it deploys on anvil, transfers between verified holders
and refuses what T-REX must refuse, so the figure the bench compares us with is a working T-REX transfer.

T-REX and ONCHAINID come from node_modules (npm devDependencies, shipped artifacts), never from this repo.
"""

from __future__ import annotations

import pytest
from web3 import Web3
from web3.exceptions import ContractLogicError

from contracts import trex
from contracts.artifacts import SOURCES_DIR
from contracts.deploy import transact

UNIT = trex.TOKEN_UNIT


def _refused(fn, sender: str) -> str:
    """The revert reason of a call T-REX refuses (fails the test if it would succeed)."""
    with pytest.raises(ContractLogicError) as caught:
        fn.call({"from": sender})
    return str(caught.value)


def test_trex_transfer_between_verified_holders(w3: Web3) -> None:
    owner, alice, bob = w3.eth.accounts[0], w3.eth.accounts[1], w3.eth.accounts[2]
    result = trex.measure_trex_transfer(w3, owner, alice, bob)
    suite: trex.TrexSuite = result["suite"]
    token = suite.token

    # two transfers of 1 unit went through: balances and supply are T-REX's, not a no-op
    assert token.functions.balanceOf(alice).call() == 998 * UNIT
    assert token.functions.balanceOf(bob).call() == 1_002 * UNIT
    assert token.functions.totalSupply().call() == 2_000 * UNIT
    assert token.functions.paused().call() is False
    # the suite is the real one: verified holders, the module bound to the token's compliance
    assert suite.identity_registry.functions.isVerified(bob).call() is True
    assert suite.identity_registry.functions.investorCountry(bob).call() == trex.COUNTRY_FR
    assert suite.compliance.functions.getModules().call() == [suite.country_module.address]
    assert suite.compliance.functions.getTokenBound().call() == token.address
    assert suite.identity_registry_storage.functions.storedIdentity(alice).call() == suite.identities[alice]

    gas = result["transfer_existing"]
    assert 100_000 < gas < 400_000, gas  # ~243k measured with the country module (~214k without)


def test_trex_refuses_unverified_and_disallowed_recipients(w3: Web3) -> None:
    owner, alice, bob, carol = w3.eth.accounts[:4]
    suite = trex.deploy_trex_suite(w3, owner)
    token = suite.token
    trex.onboard_holder(suite, alice, trex.COUNTRY_DE)
    transact(token.functions.mint(alice, 10 * UNIT), owner)
    assert token.functions.balanceOf(alice).call() == 10 * UNIT

    # no identity at all
    stranger = w3.eth.account.create().address
    assert suite.identity_registry.functions.isVerified(stranger).call() is False
    assert "Transfer not possible" in _refused(token.functions.transfer(stranger, UNIT), alice)
    # registered identity, but no KYC claim from the trusted issuer
    trex.onboard_holder(suite, bob, trex.COUNTRY_FR, with_claim=False)
    assert suite.identity_registry.functions.isVerified(bob).call() is False
    assert "Transfer not possible" in _refused(token.functions.transfer(bob, UNIT), alice)
    # verified, but from a country the compliance module does not allow
    trex.onboard_holder(suite, carol, trex.COUNTRY_US)
    assert suite.identity_registry.functions.isVerified(carol).call() is True
    assert suite.compliance.functions.canTransfer(alice, carol, UNIT).call() is False
    assert "Transfer not possible" in _refused(token.functions.transfer(carol, UNIT), alice)
    # minting is held to the same checks
    assert "Compliance not followed" in _refused(token.functions.mint(carol, UNIT), owner)
    assert token.functions.balanceOf(alice).call() == 10 * UNIT


def test_trex_stays_out_of_the_repo() -> None:
    """GPL/CC-BY-NC: T-REX and ONCHAINID are read from node_modules, never copied into contracts/src."""
    assert trex.TREX_ROOT.is_relative_to(trex.REPO_ROOT / "node_modules")
    assert trex.ONCHAINID_ROOT.is_relative_to(trex.REPO_ROOT / "node_modules")
    for source in SOURCES_DIR.rglob("*.sol"):
        text = source.read_text(errors="replace")
        assert "Tokeny" not in text and "@onchain-id" not in text, source
