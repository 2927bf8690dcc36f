"""ComplianceRegistry: investor status, token rules, restriction codes, roles, batch setters."""

from __future__ import annotations

import pytest

from tests.contracts.chain_helpers import (  # noqa: F401
    FR,
    KP,
    MAX_UINT64,
    US,
    World,
    events,
    expect_revert,
    now,
    one_event,
    role,
    warp,
    world,
    world_deployed,
)

SUCCESS, S_UNVERIFIED, R_UNVERIFIED, S_FROZEN, R_FROZEN, S_LOCKED, S_BLOCKED, R_BLOCKED, R_NOT_ACCREDITED = range(9)
ZERO = "0x" + "00" * 20


def detect(world: World, frm: str, to: str, token: str | None = None) -> int:
    return world.registry.functions.detectTransferRestriction(token or world.token.address, frm, to, 1).call()


def test_set_investor_packs_status_and_emits(world: World, w3) -> None:
    reg, who = world.registry, world.outsider
    receipt = world.send(reg.functions.setInvestor(who, 2_000_000_000, FR, False))
    assert one_event(reg, "InvestorUpdated", receipt) == {
        "investor": who,
        "kycValidUntil": 2_000_000_000,
        "country": FR,
        "accredited": False,
    }
    assert reg.functions.investor(who).call() == [2_000_000_000, FR, False, False]
    assert reg.functions.isVerified(who).call() is True
    # one storage slot per investor: 8 + 2 + 1 + 1 bytes packed in slot keccak(who . slot)
    from eth_abi import encode
    from eth_utils import keccak

    for slot_index in range(0, 4):
        key = keccak(encode(["address", "uint256"], [who, slot_index]))
        raw = int.from_bytes(w3.eth.get_storage_at(reg.address, key), "big")
        if raw:
            assert raw == 2_000_000_000 | (FR << 64)
            next_slot = (int.from_bytes(key, "big") + 1).to_bytes(32, "big")
            assert int.from_bytes(w3.eth.get_storage_at(reg.address, next_slot), "big") == 0
            break
    else:
        pytest.fail("investor slot not found")


def test_kyc_expiry_makes_investor_unverified(world: World, w3) -> None:
    reg, a, b = world.registry, world.investors[0], world.investors[1]
    world.send(reg.functions.setInvestor(a, now(w3) + 100, US, True))
    assert detect(world, a, b) == SUCCESS
    warp(w3, 200)
    assert reg.functions.isVerified(a).call() is False
    assert detect(world, a, b) == S_UNVERIFIED
    assert detect(world, b, a) == R_UNVERIFIED


def test_codes_for_every_restriction(world: World, w3) -> None:
    reg, token = world.registry, world.token.address
    a, b, c = world.investors[:3]
    assert detect(world, a, b) == SUCCESS
    assert detect(world, world.outsider, b) == S_UNVERIFIED
    assert detect(world, a, world.outsider) == R_UNVERIFIED
    world.send(reg.functions.setFrozen(a, True))
    assert detect(world, a, b) == S_FROZEN
    assert detect(world, b, a) == R_FROZEN
    world.send(reg.functions.setFrozen(a, False))
    world.send(reg.functions.setLockup(token, a, now(w3) + 1000))
    assert detect(world, a, b) == S_LOCKED
    assert detect(world, b, a) == SUCCESS  # lockup only restricts sending
    assert detect(world, a, b, token=world.stablecoin.address) == SUCCESS  # lockup is per token
    warp(w3, 2000)
    assert detect(world, a, b) == SUCCESS  # lockup over
    world.send(reg.functions.setInvestor(c, MAX_UINT64, KP, True))
    world.send(reg.functions.setCountryBlocked(token, KP, True))
    assert detect(world, c, b) == S_BLOCKED
    assert detect(world, b, c) == R_BLOCKED
    world.send(reg.functions.setInvestor(b, MAX_UINT64, US, False))
    world.send(reg.functions.setAccreditationRequired(token, True))
    assert detect(world, a, b) == R_NOT_ACCREDITED
    assert reg.functions.canTransfer(token, a, b, 1).call() is False
    assert reg.functions.canTransfer(token, b, a, 1).call() is True


def test_mint_checks_only_recipient_and_burn_checks_nothing(world: World) -> None:
    reg = world.registry
    a = world.investors[0]
    world.send(reg.functions.setFrozen(a, True))
    assert detect(world, ZERO, world.investors[1]) == SUCCESS
    assert detect(world, ZERO, a) == R_FROZEN
    assert detect(world, ZERO, world.outsider) == R_UNVERIFIED
    assert detect(world, a, ZERO) == SUCCESS
    assert detect(world, world.outsider, ZERO) == SUCCESS


def test_messages_are_stable(world: World) -> None:
    msg = world.registry.functions.messageForTransferRestriction
    assert msg(0).call() == "SUCCESS"
    for code, prefix in [
        (1, "SENDER_NOT_VERIFIED"),
        (2, "RECIPIENT_NOT_VERIFIED"),
        (3, "SENDER_FROZEN"),
        (4, "RECIPIENT_FROZEN"),
        (5, "SENDER_LOCKED"),
        (6, "SENDER_COUNTRY_BLOCKED"),
        (7, "RECIPIENT_COUNTRY_BLOCKED"),
        (8, "RECIPIENT_NOT_ACCREDITED"),
    ]:
        assert msg(code).call().startswith(prefix + ":")
    assert msg(9).call() == "UNKNOWN_RESTRICTION"


def test_token_rules_counters(world: World, w3) -> None:
    reg, token = world.registry, world.token.address
    a, b = world.investors[:2]
    r = world.send(reg.functions.setCountryBlocked(token, KP, True))
    assert one_event(reg, "CountryBlocked", r) == {"token": token, "country": KP, "blocked": True}
    world.send(reg.functions.setCountryBlocked(token, KP, True))  # idempotent, counted once
    assert reg.functions.tokenRules(token).call() == [False, 1, 0]
    assert reg.functions.isCountryBlocked(token, KP).call() is True
    world.send(reg.functions.setCountryBlocked(token, KP, False))
    assert reg.functions.tokenRules(token).call() == [False, 0, 0]
    r = world.send(reg.functions.batchSetLockups(token, [a, b], [now(w3) + 50, now(w3) + 60]))
    assert [e["holder"] for e in events(reg, "LockupSet", r)] == [a, b]
    assert reg.functions.tokenRules(token).call() == [False, 0, 2]
    world.send(reg.functions.setLockup(token, a, 0))
    assert reg.functions.tokenRules(token).call() == [False, 0, 1]
    assert reg.functions.lockupUntil(token, a).call() == 0
    r = world.send(reg.functions.setAccreditationRequired(token, True))
    assert one_event(reg, "AccreditationRequired", r) == {"token": token, "required": True}
    r = world.send(reg.functions.batchSetCountriesBlocked(token, [FR, KP], True))
    assert len(events(reg, "CountryBlocked", r)) == 2
    assert reg.functions.tokenRules(token).call() == [True, 2, 1]


def test_batch_setters_and_their_limits(world: World, w3) -> None:
    reg = world.registry
    people = [w3.eth.account.create().address for _ in range(3)]
    r = world.send(reg.functions.batchSetInvestors(people, [MAX_UINT64] * 3, [US, FR, KP], [True, False, True]))
    assert len(events(reg, "InvestorUpdated", r)) == 3
    assert reg.functions.investor(people[1]).call() == [MAX_UINT64, FR, False, False]
    expect_revert(
        reg.functions.batchSetInvestors(people, [MAX_UINT64] * 2, [US] * 3, [True] * 3),
        world.admin,
        "ArrayLengthMismatch",
        3,
        2,
    )
    too_many = [people[0]] * 501
    expect_revert(
        reg.functions.batchSetInvestors(too_many, [1] * 501, [1] * 501, [True] * 501),
        world.admin,
        "BatchTooLarge",
        501,
        500,
    )
    r = world.send(reg.functions.batchSetFrozen(people[:2], [True, True]))
    got = events(reg, "InvestorFrozen", r)
    assert [(e["investor"], e["frozen"], e["agent"]) for e in got] == [
        (people[0], True, world.admin),
        (people[1], True, world.admin),
    ]
    expect_revert(reg.functions.batchSetFrozen(people, [True]), world.admin, "ArrayLengthMismatch", 3, 1)
    expect_revert(
        reg.functions.batchSetLockups(world.token.address, people, [1]), world.admin, "ArrayLengthMismatch", 3, 1
    )


def test_zero_addresses_rejected(world: World) -> None:
    reg, token = world.registry, world.token.address
    expect_revert(reg.functions.setInvestor(ZERO, 1, US, True), world.admin, "ZeroAddress")
    expect_revert(reg.functions.setFrozen(ZERO, True), world.admin, "ZeroAddress")
    expect_revert(reg.functions.setLockup(ZERO, world.investors[0], 1), world.admin, "ZeroAddress")
    expect_revert(reg.functions.setLockup(token, ZERO, 1), world.admin, "ZeroAddress")
    expect_revert(reg.functions.setCountryBlocked(ZERO, US, True), world.admin, "ZeroAddress")
    expect_revert(reg.functions.setAccreditationRequired(ZERO, True), world.admin, "ZeroAddress")


def test_roles_gate_every_setter(world: World) -> None:
    reg, token, stranger = world.registry, world.token.address, world.investors[0]
    compliance = role(reg, "COMPLIANCE_ROLE")
    for fn in [
        reg.functions.setInvestor(stranger, 1, US, True),
        reg.functions.batchSetInvestors([stranger], [1], [US], [True]),
        reg.functions.setLockup(token, stranger, 1),
        reg.functions.batchSetLockups(token, [stranger], [1]),
        reg.functions.setCountryBlocked(token, US, True),
        reg.functions.batchSetCountriesBlocked(token, [US], True),
        reg.functions.setAccreditationRequired(token, True),
    ]:
        expect_revert(fn, stranger, "AccessControlUnauthorizedAccount", stranger, compliance)
    expect_revert(reg.functions.setFrozen(stranger, True), stranger, "NotAgentOrCompliance", stranger)
    expect_revert(reg.functions.batchSetFrozen([stranger], [True]), stranger, "NotAgentOrCompliance", stranger)
    # an agent (not compliance) may freeze but not write KYC
    agent = world.investors[1]
    world.send(reg.functions.grantRole(role(reg, "AGENT_ROLE"), agent))
    r = world.send(reg.functions.setFrozen(stranger, True), agent)
    assert one_event(reg, "InvestorFrozen", r) == {"investor": stranger, "frozen": True, "agent": agent}
    expect_revert(
        reg.functions.setInvestor(stranger, 1, US, True), agent, "AccessControlUnauthorizedAccount", agent, compliance
    )


def test_constructor_rejects_zero_admin(world: World, w3) -> None:
    from web3.exceptions import ContractCustomError

    from contracts.deploy import TransactionFailed, deploy_contract

    with pytest.raises((ContractCustomError, TransactionFailed)):
        deploy_contract(w3, "ComplianceRegistry", ZERO)
