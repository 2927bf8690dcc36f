"""Property test: no path moves PortfolioTokens to an unverified, frozen or blocked-country holder
(or from an unverified, frozen, locked or blocked-country one), except a recovery, which waives the
sender's rules but still requires a cleared recipient.

Hypothesis drives random registry changes (KYC revoke/renew, freeze, lockup, country block,
accreditation requirement) and random movements (transfer, transferFrom, mint, recovery: proposed by
the agent, executed by the approver after the delay) on anvil. A Python model of the rules predicts
the restriction code of every movement; the chain must agree exactly: it succeeds iff the model says
0, and otherwise reverts with `TransferRestricted(code)` carrying the model's code (a recovery to an
uncleared recipient is refused at its proposal).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.deploy import transact
from tests.contracts.chain_helpers import (  # noqa: F401
    FR,
    KP,
    MAX_UINT64,
    TOKEN,
    US,
    World,
    one_event,
    revert_of,
    warp,
    world,
    world_deployed,
)

PEOPLE = 5  # investors[0..3] + outsider
EXAMPLES = 40
COUNTRIES = (US, FR, KP)
FAR_FUTURE = 2**40
REASON = b"LOST_KEYS".ljust(32, b"\0")


@dataclass
class Model:
    verified: list[bool]
    frozen: list[bool] = field(default_factory=lambda: [False] * PEOPLE)
    country: list[int] = field(default_factory=lambda: [US] * PEOPLE)
    accredited: list[bool] = field(default_factory=lambda: [True] * PEOPLE)
    locked: list[bool] = field(default_factory=lambda: [False] * PEOPLE)
    blocked: set[int] = field(default_factory=set)
    accreditation_required: bool = False

    def recipient_code(self, j: int) -> int:
        if not self.verified[j]:
            return 2
        if self.frozen[j]:
            return 4
        if self.country[j] in self.blocked:
            return 7
        if self.accreditation_required and not self.accredited[j]:
            return 8
        return 0

    def transfer_code(self, i: int, j: int) -> int:
        if not self.verified[i]:
            return 1
        if self.frozen[i]:
            return 3
        if self.locked[i]:
            return 5
        if self.country[i] in self.blocked:
            return 6
        return self.recipient_code(j)


person = st.integers(min_value=0, max_value=PEOPLE - 1)
rule_change = st.one_of(
    st.tuples(st.just("kyc"), person, st.booleans(), st.sampled_from(COUNTRIES), st.booleans()),
    st.tuples(st.just("freeze"), person, st.booleans()),
    st.tuples(st.just("lock"), person, st.booleans()),
    st.tuples(st.just("block"), st.sampled_from(COUNTRIES), st.booleans()),
    st.tuples(st.just("accreditation"), st.booleans()),
)
movement = st.one_of(
    st.tuples(st.just("transfer"), person, person),
    st.tuples(st.just("transferFrom"), person, person),
    st.tuples(st.just("mint"), person),
    st.tuples(st.just("recovery"), person, person),
)


def _people(world: World) -> list[str]:
    return [*world.investors[: PEOPLE - 1], world.outsider]


def _spender(world: World) -> str:
    return world.investors[4]  # allowance holder for transferFrom


@pytest.fixture()
def holders(world: World) -> World:
    """Every example's starting state, built once per test (each example reverts to it): the verified
    people hold 100 tokens each and everybody approved the spender."""
    people = _people(world)
    for who in people[: PEOPLE - 1]:
        world.mint(who, 100 * TOKEN)
    for who in people:
        world.send(world.token.functions.approve(_spender(world), 2**256 - 1), who)
    return world


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.one_of(rule_change, movement), min_size=1, max_size=16))
def test_only_cleared_holders_ever_receive_tokens(holders: World, steps: list) -> None:
    w3 = holders.w3
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        _run(holders, steps)
    finally:
        w3.provider.make_request("evm_revert", [snapshot])


def _run(world: World, steps: list) -> None:
    t, reg = world.token, world.registry
    people, spender = _people(world), _spender(world)
    model = Model(verified=[True] * (PEOPLE - 1) + [False])
    recovery_delay = t.functions.recoveryDelay().call()

    for op in steps:
        kind = op[0]
        if kind == "kyc":
            _, i, verified, country, accredited = op
            world.send(reg.functions.setInvestor(people[i], MAX_UINT64 if verified else 1, country, accredited))
            model.verified[i], model.country[i], model.accredited[i] = verified, country, accredited
        elif kind == "freeze":
            world.send(reg.functions.setFrozen(people[op[1]], op[2]))
            model.frozen[op[1]] = op[2]
        elif kind == "lock":
            world.send(reg.functions.setLockup(t.address, people[op[1]], FAR_FUTURE if op[2] else 0))
            model.locked[op[1]] = op[2]
        elif kind == "block":
            world.send(reg.functions.setCountryBlocked(t.address, op[1], op[2]))
            (model.blocked.add if op[2] else model.blocked.discard)(op[1])
        elif kind == "accreditation":
            world.send(reg.functions.setAccreditationRequired(t.address, op[1]))
            model.accreditation_required = op[1]
        else:
            _move(world, model, people, spender, recovery_delay, op)


def _move(world: World, model: Model, people: list[str], spender: str, recovery_delay: int, op: tuple) -> None:
    t, admin = world.token, world.admin
    kind = op[0]
    if kind == "mint":
        j = op[1]
        fn, sender, expected = t.functions.mint(people[j], TOKEN), admin, model.recipient_code(j)
    else:
        i, j = op[1], op[2]
        if i == j or t.functions.balanceOf(people[i]).call() == 0:
            return
        if kind == "transfer":
            fn, sender, expected = t.functions.transfer(people[j], 1), people[i], model.transfer_code(i, j)
        elif kind == "transferFrom":
            fn, sender, expected = t.functions.transferFrom(people[i], people[j], 1), spender, model.transfer_code(i, j)
        else:  # a recovery: sender rules waived, recipient rules kept (checked at proposal and execution)
            fn = t.functions.proposeRecovery(people[i], people[j], 1, False, REASON)
            sender, expected = world.agent, model.recipient_code(j)
    recipient = people[op[1]] if kind == "mint" else people[op[2]]
    before = t.functions.balanceOf(recipient).call()
    if expected == 0:
        receipt = transact(fn, sender)
        if kind == "recovery":
            request_id = one_event(t, "RecoveryProposed", receipt)["id"]
            warp(world.w3, recovery_delay)
            transact(t.functions.executeRecovery(request_id), world.approver)
        assert t.functions.balanceOf(recipient).call() == before + (TOKEN if kind == "mint" else 1)
    else:
        assert revert_of(fn, sender) == ("TransferRestricted", (expected,))
        assert t.functions.balanceOf(recipient).call() == before
