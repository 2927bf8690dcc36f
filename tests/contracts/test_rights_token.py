"""RightsToken on anvil: licence terms per id, supply caps, ERC-2981 royalties, registry checks on
security-like ids (the registry is the platform's to change, not the creator's), ERC-165."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from web3 import Web3

from contracts.core import PortfolioSpec, deploy_core, deploy_portfolio
from contracts.deploy import deploy_contract
from contracts.funding import (
    FAR_FUTURE_S,
    LicenceKind,
    deploy_clone_of,
    send,
)
from tests.contracts.funding_support import ZERO, events, one_event, reverts

pytestmark = pytest.mark.chain

RECIPIENT_NOT_VERIFIED = 2
SENDER_NOT_VERIFIED = 1


@pytest.fixture()
def env(w3):
    a = w3.eth.accounts
    admin, issuer, royalty, alice, bob, stranger, platform = a[0], a[1], a[2], a[3], a[4], a[5], a[6]
    registry = deploy_contract(w3, "ComplianceRegistry", admin)
    send(registry.functions.grantRole(registry.functions.COMPLIANCE_ROLE().call(), admin), admin)
    for holder in (alice, bob):
        send(registry.functions.setInvestor(holder, FAR_FUTURE_S, 0, False), admin)
    rights = deploy_clone_of(w3, "RightsToken", admin)
    send(rights.functions.initialize(admin, issuer, platform, registry.address, royalty, 500), admin)
    return SimpleNamespace(
        w3=w3,
        admin=admin,
        issuer=issuer,
        platform=platform,
        royalty=royalty,
        alice=alice,
        bob=bob,
        stranger=stranger,
        registry=registry,
        rights=rights,
    )


def create(
    env, id_, *, kind=LicenceKind.PERSONAL, security=False, max_supply=0, uri="ipfs://meta/1", receiver=ZERO, bps=0
):
    return send(env.rights.functions.createRight(id_, kind, security, max_supply, uri, receiver, bps), env.issuer)


def role(contract, name):
    return getattr(contract.functions, name)().call()


def test_initialize_sets_roles_registry_and_default_royalty(env):
    f = env.rights.functions
    platform_role = role(env.rights, "PLATFORM_ROLE")
    assert platform_role == Web3.keccak(text="PLATFORM_ROLE")
    assert f.hasRole(role(env.rights, "DEFAULT_ADMIN_ROLE"), env.admin).call()
    assert f.hasRole(role(env.rights, "ISSUER_ROLE"), env.issuer).call()
    assert f.hasRole(platform_role, env.platform).call()
    assert not f.hasRole(platform_role, env.admin).call()
    assert f.getRoleAdmin(platform_role).call() == platform_role
    assert f.complianceRegistry().call() == env.registry.address
    assert f.royaltyInfo(7, 10_000).call() == [env.royalty, 500]
    logs = env.rights.events.DefaultRoyaltySet().get_logs(from_block=0)
    assert [dict(log["args"]) for log in logs] == [{"receiver": env.royalty, "royaltyBps": 500}]
    with reverts(env.rights, "InvalidInitialization"):
        send(f.initialize(env.admin, env.issuer, env.platform, env.registry.address, ZERO, 0), env.admin)


def test_implementation_cannot_be_initialized(env):
    implementation = deploy_contract(env.w3, "RightsToken")
    with reverts(implementation, "InvalidInitialization"):
        send(
            implementation.functions.initialize(env.admin, env.issuer, env.platform, env.registry.address, ZERO, 0),
            env.admin,
        )


def test_initialize_rejects_bad_arguments(env):
    registry = env.registry.address
    for args, error, error_args in [
        ((ZERO, env.issuer, env.platform, registry, ZERO, 0), "ZeroAddress", ()),
        ((env.admin, env.issuer, ZERO, registry, ZERO, 0), "ZeroAddress", ()),
        ((env.admin, env.issuer, env.platform, ZERO, ZERO, 0), "ZeroAddress", ()),
        ((env.admin, env.issuer, env.platform, registry, env.royalty, 1_001), "RoyaltyTooHigh", (1_001, 1_000)),
    ]:
        clone = deploy_clone_of(env.w3, "RightsToken")
        with reverts(clone, error, *error_args):
            send(clone.functions.initialize(*args), env.admin)


def test_create_right_records_terms_and_emits(env):
    receipt = create(
        env,
        1,
        kind=LicenceKind.LIMITED_COMMERCIAL,
        security=True,
        max_supply=10,
        uri="ipfs://bafy/1.json",
        receiver=env.stranger,
        bps=750,
    )
    assert one_event(env.rights, receipt, "RightCreated") == {
        "id": 1,
        "kind": LicenceKind.LIMITED_COMMERCIAL,
        "securityLike": True,
        "maxSupply": 10,
        "uri": "ipfs://bafy/1.json",
        "royaltyReceiver": env.stranger,
        "royaltyBps": 750,
    }
    assert one_event(env.rights, receipt, "URI") == {"value": "ipfs://bafy/1.json", "id": 1}
    assert one_event(env.rights, receipt, "TokenRoyaltySet") == {"id": 1, "receiver": env.stranger, "royaltyBps": 750}
    f = env.rights.functions
    assert f.rightOf(1).call() == [LicenceKind.LIMITED_COMMERCIAL, True, 10, "ipfs://bafy/1.json"]
    assert f.uri(1).call() == "ipfs://bafy/1.json"
    assert f.rightExists(1).call() and not f.rightExists(2).call()
    assert f.royaltyInfo(1, 10_000).call() == [env.stranger, 750]
    # without a per-id royalty the default applies and the event says so with zeros
    receipt = create(env, 2, kind=LicenceKind.COMMERCIAL, receiver=ZERO, bps=999)
    event = one_event(env.rights, receipt, "RightCreated")
    assert (event["royaltyReceiver"], event["royaltyBps"]) == (ZERO, 0)
    assert f.royaltyInfo(2, 10_000).call() == [env.royalty, 500]


def test_create_right_rejections(env):
    create(env, 1)
    with reverts(env.rights, "RightAlreadyExists", 1):
        create(env, 1)
    with reverts(env.rights, "InvalidUri", 0):
        create(env, 2, uri="")
    with reverts(env.rights, "InvalidUri", 513):
        create(env, 2, uri="x" * 513)
    with reverts(env.rights, "RoyaltyTooHigh", 1_001, 1_000):
        create(env, 2, receiver=env.stranger, bps=1_001)
    with reverts(env.rights, "AccessControlUnauthorizedAccount", env.admin, role(env.rights, "ISSUER_ROLE")):
        send(env.rights.functions.createRight(3, 0, False, 0, "u", ZERO, 0), env.admin)
    with reverts(env.rights, "UnknownRight", 9):
        env.rights.functions.rightOf(9).call()


def test_mint_with_supply_cap(env):
    create(env, 1, max_supply=5)
    f = env.rights.functions
    receipt = send(f.mint(env.alice, 1, 3), env.issuer)
    assert one_event(env.rights, receipt, "TransferSingle") == {
        "operator": env.issuer,
        "from": ZERO,
        "to": env.alice,
        "id": 1,
        "value": 3,
    }
    send(f.mint(env.stranger, 1, 2), env.issuer)  # not security-like: no registry check
    with reverts(env.rights, "MaxSupplyExceeded", 1, 6, 5):
        send(f.mint(env.alice, 1, 1), env.issuer)
    with reverts(env.rights, "UnknownRight", 2):
        send(f.mint(env.alice, 2, 1), env.issuer)
    with reverts(env.rights, "AccessControlUnauthorizedAccount", env.alice, role(env.rights, "ISSUER_ROLE")):
        send(f.mint(env.alice, 1, 1), env.alice)
    assert f.totalSupply(1).call() == 5
    assert f.balanceOf(env.alice, 1).call() == 3


def test_security_like_ids_are_checked_against_the_registry(env):
    create(env, 1, security=True)
    create(env, 2, security=False)
    f = env.rights.functions
    with reverts(env.rights, "RightTransferRestricted", 1, RECIPIENT_NOT_VERIFIED):
        send(f.mint(env.stranger, 1, 1), env.issuer)
    send(f.mint(env.alice, 1, 4), env.issuer)
    send(f.mint(env.alice, 2, 4), env.issuer)
    with reverts(env.rights, "RightTransferRestricted", 1, RECIPIENT_NOT_VERIFIED):
        send(f.safeTransferFrom(env.alice, env.stranger, 1, 1, b""), env.alice)
    send(f.safeTransferFrom(env.alice, env.stranger, 2, 1, b""), env.alice)  # plain licence moves freely
    send(f.safeTransferFrom(env.alice, env.bob, 1, 1, b""), env.alice)  # verified recipient
    with reverts(env.rights, "RightTransferRestricted", 1, RECIPIENT_NOT_VERIFIED):  # batches check each id
        send(f.safeBatchTransferFrom(env.alice, env.stranger, [2, 1], [1, 1], b""), env.alice)
    send(env.registry.functions.setInvestor(env.alice, 0, 0, False), env.admin)  # alice's KYC revoked
    with reverts(env.rights, "RightTransferRestricted", 1, SENDER_NOT_VERIFIED):
        send(f.safeTransferFrom(env.alice, env.bob, 1, 1, b""), env.alice)
    assert f.balanceOf(env.bob, 1).call() == 1


def test_royalty_admin(env):
    f = env.rights.functions
    admin_role = role(env.rights, "DEFAULT_ADMIN_ROLE")
    receipt = send(f.setDefaultRoyalty(env.stranger, 100), env.admin)
    assert one_event(env.rights, receipt, "DefaultRoyaltySet") == {"receiver": env.stranger, "royaltyBps": 100}
    assert f.royaltyInfo(1, 1_000_000).call() == [env.stranger, 10_000]
    with reverts(env.rights, "ZeroAddress"):
        send(f.setDefaultRoyalty(ZERO, 100), env.admin)
    with reverts(env.rights, "RoyaltyTooHigh", 2_000, 1_000):
        send(f.setDefaultRoyalty(env.stranger, 2_000), env.admin)
    with reverts(env.rights, "AccessControlUnauthorizedAccount", env.issuer, admin_role):
        send(f.setDefaultRoyalty(env.stranger, 100), env.issuer)
    with reverts(env.rights, "UnknownRight", 1):
        send(f.setTokenRoyalty(1, env.stranger, 100), env.admin)
    create(env, 1)
    receipt = send(f.setTokenRoyalty(1, env.bob, 250), env.admin)
    assert one_event(env.rights, receipt, "TokenRoyaltySet") == {"id": 1, "receiver": env.bob, "royaltyBps": 250}
    assert f.royaltyInfo(1, 10_000).call() == [env.bob, 250]
    with reverts(env.rights, "ZeroAddress"):
        send(f.setTokenRoyalty(1, ZERO, 100), env.admin)
    with reverts(env.rights, "AccessControlUnauthorizedAccount", env.issuer, admin_role):
        send(f.setTokenRoyalty(1, env.bob, 100), env.issuer)


def test_platform_sets_the_compliance_registry(env):
    f = env.rights.functions
    other = deploy_contract(env.w3, "TestComplianceRegistry")
    with reverts(env.rights, "AccessControlUnauthorizedAccount", env.issuer, role(env.rights, "PLATFORM_ROLE")):
        send(f.setComplianceRegistry(other.address), env.issuer)
    with reverts(env.rights, "ZeroAddress"):
        send(f.setComplianceRegistry(ZERO), env.platform)
    receipt = send(f.setComplianceRegistry(other.address), env.platform)
    assert one_event(env.rights, receipt, "ComplianceRegistryChanged") == {
        "previousRegistry": env.registry.address,
        "newRegistry": other.address,
    }
    create(env, 1, security=True)
    send(f.mint(env.stranger, 1, 1), env.issuer)  # the stand-in registry allows everyone by default
    assert events(env.rights, receipt, "TransferSingle") == []


def test_creator_cannot_swap_in_a_registry_of_its_own(env):
    # the attack: the creator (DEFAULT_ADMIN_ROLE) points the token at a registry that clears everyone,
    # then mints or moves security-like rights to wallets the platform never verified
    f = env.rights.functions
    platform_role = role(env.rights, "PLATFORM_ROLE")
    own_registry = deploy_contract(env.w3, "TestComplianceRegistry", sender=env.admin)  # allows everyone
    create(env, 1, security=True)
    with reverts(env.rights, "AccessControlUnauthorizedAccount", env.admin, platform_role):
        send(f.setComplianceRegistry(own_registry.address), env.admin)
    # nor can it take the platform's role, for itself or a second wallet, or remove the platform
    for wallet in (env.admin, env.stranger):
        with reverts(env.rights, "AccessControlUnauthorizedAccount", env.admin, platform_role):
            send(f.grantRole(platform_role, wallet), env.admin)
    with reverts(env.rights, "AccessControlUnauthorizedAccount", env.admin, platform_role):
        send(f.revokeRole(platform_role, env.platform), env.admin)
    # the issuer (the creator's other role) cannot either
    with reverts(env.rights, "AccessControlUnauthorizedAccount", env.issuer, platform_role):
        send(f.setComplianceRegistry(own_registry.address), env.issuer)
    with reverts(env.rights, "AccessControlUnauthorizedAccount", env.issuer, platform_role):
        send(f.grantRole(platform_role, env.issuer), env.issuer)
    assert f.complianceRegistry().call() == env.registry.address
    assert not f.hasRole(platform_role, env.admin).call() and not f.hasRole(platform_role, env.stranger).call()
    assert f.hasRole(platform_role, env.platform).call()
    assert env.rights.events.ComplianceRegistryChanged().get_logs(from_block=0)[-1]["args"]["newRegistry"] == (
        env.registry.address
    )
    with reverts(env.rights, "RightTransferRestricted", 1, RECIPIENT_NOT_VERIFIED):
        send(f.mint(env.stranger, 1, 1), env.issuer)  # the unverified wallet stays out


def test_platform_hands_its_role_to_a_successor(env):
    f = env.rights.functions
    platform_role = role(env.rights, "PLATFORM_ROLE")
    send(f.grantRole(platform_role, env.bob), env.platform)
    send(f.renounceRole(platform_role, env.platform), env.platform)
    assert f.hasRole(platform_role, env.bob).call() and not f.hasRole(platform_role, env.platform).call()
    other = deploy_contract(env.w3, "TestComplianceRegistry")
    send(f.setComplianceRegistry(other.address), env.bob)
    assert f.complianceRegistry().call() == other.address


def test_factory_gives_the_registry_to_the_platform_not_the_creator(w3):
    # through PortfolioFactory.createPortfolio, with the platform and the creator as separate wallets
    a = w3.eth.accounts
    deployer, platform, creator, treasury, signer = a[0], a[1], a[2], a[7], a[9]
    core = deploy_core(w3, deployer, compliance_signer=signer, fee_recipient=a[8], platform=platform)
    portfolio = deploy_portfolio(
        w3,
        core,
        PortfolioSpec(admin=creator, issuer=creator, treasury=treasury, name="Rights", symbol="RGT", with_rights=True),
    )
    rights = portfolio.rights_token
    assert rights is not None
    f = rights.functions
    platform_role = role(rights, "PLATFORM_ROLE")
    assert f.hasRole(platform_role, platform).call()
    assert f.getRoleAdmin(platform_role).call() == platform_role
    assert f.complianceRegistry().call() == core.registry.address
    for wallet in (creator, deployer):
        assert not f.hasRole(platform_role, wallet).call()
    own_registry = deploy_contract(w3, "TestComplianceRegistry", sender=creator)
    with reverts(rights, "AccessControlUnauthorizedAccount", creator, platform_role):
        send(f.setComplianceRegistry(own_registry.address), creator)
    with reverts(rights, "AccessControlUnauthorizedAccount", creator, platform_role):
        send(f.grantRole(platform_role, creator), creator)
    send(f.setComplianceRegistry(own_registry.address), platform)
    assert f.complianceRegistry().call() == own_registry.address


def test_supports_interfaces(env):
    f = env.rights.functions
    for interface_id in ("01ffc9a7", "d9b67a26", "0e89341c", "2a55205a", "7965db0b"):
        assert f.supportsInterface(bytes.fromhex(interface_id)).call(), interface_id
    assert not f.supportsInterface(bytes.fromhex("ffffffff")).call()
