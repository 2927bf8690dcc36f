"""T-REX (ERC-3643) as a gas peer: deploy a full suite on a chain and measure one holder-to-holder transfer.

BENCHMARK-ONLY. T-REX (npm `@tokenysolutions/t-rex` 4.1.6; its sources say GPL-3.0 or a proprietary licence,
later releases are cited as CC-BY-NC) and ONCHAINID (npm `@onchain-id/solidity` 2.2.1, what T-REX's `^2.0.0`
resolves to; LICENSE.md: GPL-3.0) are copyleft or non-commercial: neither is vendored, copied or compiled into
this repository, and nothing of theirs may be. Both are npm devDependencies, and this module only reads the compiled
artifacts their packages ship (`node_modules/<package>/artifacts/**.json`: ABI + creation bytecode, built by
their authors with solc 0.8.17), so nothing is compiled or downloaded at run time and no T-REX code reaches
our build (`contracts/build`) or a deployment of ours. The suite is deployed only to measure it next to our
token (`contracts.gasbench`, `kogi bench gas`); it is never part of a Kogi deployment.

What is deployed (`deploy_trex_suite`), the production path of T-REX 4.1.6 rather than a shortcut:
- ONCHAINID: an `Identity` library (implementation), its `ImplementationAuthority`, the `IdFactory`;
  every identity is an `IdentityProxy` made by the factory (`createIdentity`).
- a `ClaimIssuer` (an identity whose claim key signs the KYC claims) trusted for one claim topic.
- T-REX implementations (Token, IdentityRegistry, IdentityRegistryStorage, TrustedIssuersRegistry,
  ClaimTopicsRegistry, ModularCompliance) behind a `TREXImplementationAuthority`, and the `TREXFactory`,
  whose `deployTREXSuite` deploys the proxies of the token, identity registry (+ storage), trusted issuers
  registry, claim topics registry and modular compliance, creates the token's ONCHAINID, and binds the
  compliance module.
- compliance: `CountryAllowModule` (behind its `ModuleProxy`, as T-REX deploys upgradeable modules) with the
  holders' countries allowed: the receiver's country is checked on every transfer. With the token's own
  checks (paused, both wallets frozen, frozen tokens, the receiver verified = registered identity holding
  a valid claim from a trusted issuer for every required topic) this is the peer of our token's
  KYC/frozen/country/lockup checks in one registry. One module only: each further module adds its own cost,
  so this is T-REX's cheapest realistic configuration (measured on anvil/prague: ~243k gas per transfer;
  ~214k with no module at all, `country_module=False`).

Holders (`onboard_holder`) get an identity, a registration with a country and a signed KYC claim, then the
agent mints to them; `measure_trex_transfer` times a transfer between two existing holders like our
`transfer_existing_*` (a first transfer warms the pair up, the second is measured).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from eth_abi.abi import encode
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from contracts.artifacts import REPO_ROOT, Artifact
from contracts.deploy import RECEIPT_TIMEOUT_S, TransactionFailed, transact

TREX_PACKAGE = "@tokenysolutions/t-rex"
TREX_VERSION = "4.1.6"
ONCHAINID_PACKAGE = "@onchain-id/solidity"
ONCHAINID_VERSION = "2.2.1"

TREX_ROOT = REPO_ROOT / "node_modules" / "@tokenysolutions" / "t-rex"
ONCHAINID_ROOT = REPO_ROOT / "node_modules" / "@onchain-id" / "solidity"

_TREX = (TREX_ROOT, TREX_PACKAGE, TREX_VERSION)
_ONCHAINID = (ONCHAINID_ROOT, ONCHAINID_PACKAGE, ONCHAINID_VERSION)
_ARTIFACTS: dict[str, tuple[tuple[Path, str, str], str]] = {
    # name -> (package, folder of `<name>.sol/<name>.json` under the package's artifacts/)
    "Token": (_TREX, "contracts/token"),
    "ClaimTopicsRegistry": (_TREX, "contracts/registry/implementation"),
    "TrustedIssuersRegistry": (_TREX, "contracts/registry/implementation"),
    "IdentityRegistryStorage": (_TREX, "contracts/registry/implementation"),
    "IdentityRegistry": (_TREX, "contracts/registry/implementation"),
    "ModularCompliance": (_TREX, "contracts/compliance/modular"),
    "TREXImplementationAuthority": (_TREX, "contracts/proxy/authority"),
    "TREXFactory": (_TREX, "contracts/factory"),
    "CountryAllowModule": (_TREX, "contracts/compliance/modular/modules"),
    "ModuleProxy": (_TREX, "contracts/compliance/modular/modules"),
    "Identity": (_ONCHAINID, "contracts"),
    "ImplementationAuthority": (_ONCHAINID, "contracts/proxy"),
    "IdFactory": (_ONCHAINID, "contracts/factory"),
    "ClaimIssuer": (_ONCHAINID, "contracts"),
}

KYC_TOPIC = int.from_bytes(keccak(text="KYC"), "big")
CLAIM_SCHEME_ECDSA = 1
KEY_PURPOSE_CLAIM = 3
KEY_TYPE_ECDSA = 1
CLAIM_DATA = b"kogi bench: KYC passed"
CLAIM_SIGNER_KEY = keccak(text="kogi trex bench claim signer")
"""Fixed so runs are reproducible; a throwaway key on a throwaway chain, it signs only bench claims."""
COUNTRY_DE = 276  # ISO 3166-1 numeric, as T-REX stores countries
COUNTRY_FR = 250
COUNTRY_US = 840
ALLOWED_COUNTRIES = (COUNTRY_DE, COUNTRY_FR)
TOKEN_UNIT = 10**18
_ZERO = "0x" + "00" * 20


class TrexNotInstalled(FileNotFoundError):
    """node_modules lacks the T-REX or ONCHAINID package (npm install adds both: devDependencies)."""


def _check_package(root: Path, package: str, version: str) -> None:
    manifest = root / "package.json"
    if not manifest.is_file():
        raise TrexNotInstalled(f"{package} is not installed under {root.parent}: run `npm install`")
    found = json.loads(manifest.read_text())["version"]
    if found != version:
        raise TrexNotInstalled(f"{package} {found} is installed, the benchmark expects {version}: run `npm install`")


@cache
def trex_artifact(name: str) -> Artifact:
    """A compiled contract shipped by the T-REX or the ONCHAINID npm package (never built here)."""
    if name not in _ARTIFACTS:
        raise KeyError(f"no T-REX/ONCHAINID artifact named {name!r}")
    (root, package, version), folder = _ARTIFACTS[name]
    relative = f"{folder}/{name}.sol/{name}.json"
    _check_package(root, package, version)
    data = json.loads((root / "artifacts" / relative).read_text())
    if len(data.get("bytecode", "0x")) <= 2:
        raise TrexNotInstalled(f"{package}: artifact {relative} has no bytecode")
    return Artifact.from_hardhat(data)


def _deploy(w3: Web3, name: str, *args: Any, sender: str) -> Contract:
    artifact = trex_artifact(name)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx_hash = factory.constructor(*args).transact({"from": sender})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)
    if receipt["status"] != 1 or receipt["contractAddress"] is None:
        raise TransactionFailed(f"deploying T-REX {name} reverted (tx {tx_hash.hex()})")
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)


def _at(w3: Web3, name: str, address: str) -> Contract:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=trex_artifact(name).abi)


def _key(address: str) -> bytes:
    """An ERC-734 key: keccak256(abi.encode(address))."""
    return keccak(encode(["address"], [address]))


@dataclass
class TrexSuite:
    """A deployed T-REX token and everything around it; `owner` is owner and agent of all of it."""

    w3: Web3
    owner: ChecksumAddress
    token: Contract
    identity_registry: Contract
    identity_registry_storage: Contract
    trusted_issuers_registry: Contract
    claim_topics_registry: Contract
    compliance: Contract
    country_module: Contract
    claim_issuer: Contract
    identity_factory: Contract
    identities: dict[str, ChecksumAddress] = field(default_factory=dict)
    """wallet -> its ONCHAINID (IdentityProxy)."""


def deploy_trex_suite(
    w3: Web3,
    owner: ChecksumAddress,
    *,
    allowed_countries: Sequence[int] = ALLOWED_COUNTRIES,
    country_module: bool = True,
    salt: str = "kogi-bench",
) -> TrexSuite:
    """Deploy ONCHAINID, the claim issuer, the T-REX implementations and factory, then one token suite with a
    country-allow module bound (none with `country_module=False`: T-REX's bare minimum, for comparison); the
    token is unpaused. ~20 transactions from `owner` (an unlocked account)."""
    # ONCHAINID: implementation (library mode), its authority, the identity factory
    identity_impl = _deploy(w3, "Identity", owner, True, sender=owner)
    identity_authority = _deploy(w3, "ImplementationAuthority", identity_impl.address, sender=owner)
    id_factory = _deploy(w3, "IdFactory", identity_authority.address, sender=owner)

    # the trusted claim issuer: `owner` manages it, a separate key signs the claims
    claim_issuer = _deploy(w3, "ClaimIssuer", owner, sender=owner)
    signer = Account.from_key(CLAIM_SIGNER_KEY)
    transact(claim_issuer.functions.addKey(_key(signer.address), KEY_PURPOSE_CLAIM, KEY_TYPE_ECDSA), owner)

    # T-REX implementations behind the (reference) implementation authority, and the factory
    impls = {
        name: _deploy(w3, name, sender=owner).address
        for name in (
            "Token",
            "ClaimTopicsRegistry",
            "IdentityRegistry",
            "IdentityRegistryStorage",
            "TrustedIssuersRegistry",
            "ModularCompliance",
        )
    }
    authority = _deploy(w3, "TREXImplementationAuthority", True, _ZERO, _ZERO, sender=owner)
    major, minor, patch = (int(part) for part in TREX_VERSION.split("."))
    contracts_struct = (
        impls["Token"],
        impls["ClaimTopicsRegistry"],
        impls["IdentityRegistry"],
        impls["IdentityRegistryStorage"],
        impls["TrustedIssuersRegistry"],
        impls["ModularCompliance"],
    )
    transact(authority.functions.addAndUseTREXVersion((major, minor, patch), contracts_struct), owner)
    trex_factory = _deploy(w3, "TREXFactory", authority.address, id_factory.address, sender=owner)
    transact(id_factory.functions.addTokenFactory(trex_factory.address), owner)

    # the compliance module (upgradeable: implementation + ERC-1967 proxy initialised in its constructor)
    module_impl = _deploy(w3, "CountryAllowModule", sender=owner)
    init_data = module_impl.functions.initialize()._encode_transaction_data()
    module_proxy = _deploy(w3, "ModuleProxy", module_impl.address, init_data, sender=owner)
    module = _at(w3, "CountryAllowModule", module_proxy.address)
    allow_call = module.functions.batchAllowCountries(list(allowed_countries))._encode_transaction_data()

    token_details = (
        owner,  # owner of every contract of the suite
        "Kogi Bench T-REX",
        "KBTX",
        18,
        _ZERO,  # a new identity registry storage
        _ZERO,  # the factory creates the token's ONCHAINID
        [owner],  # identity registry agents
        [owner],  # token agents
        [module.address] if country_module else [],
        [bytes.fromhex(allow_call[2:])] if country_module else [],
    )
    claim_details = ([KYC_TOPIC], [claim_issuer.address], [[KYC_TOPIC]])
    receipt = transact(trex_factory.functions.deployTREXSuite(salt, token_details, claim_details), owner)
    (event,) = trex_factory.events.TREXSuiteDeployed().process_receipt(receipt, errors=DISCARD)
    args = event["args"]
    token = _at(w3, "Token", args["_token"])
    transact(token.functions.unpause(), owner)
    return TrexSuite(
        w3=w3,
        owner=owner,
        token=token,
        identity_registry=_at(w3, "IdentityRegistry", args["_ir"]),
        identity_registry_storage=_at(w3, "IdentityRegistryStorage", args["_irs"]),
        trusted_issuers_registry=_at(w3, "TrustedIssuersRegistry", args["_tir"]),
        claim_topics_registry=_at(w3, "ClaimTopicsRegistry", args["_ctr"]),
        compliance=_at(w3, "ModularCompliance", args["_mc"]),
        country_module=module,
        claim_issuer=claim_issuer,
        identity_factory=id_factory,
    )


def _sign_claim(identity: str, topic: int, data: bytes) -> bytes:
    """The claim signature ClaimIssuer.isClaimValid accepts: eth_sign over keccak256(abi.encode(id, topic, data))."""
    digest = keccak(encode(["address", "uint256", "bytes"], [identity, topic, data]))
    signed = Account.sign_message(encode_defunct(primitive=digest), private_key=CLAIM_SIGNER_KEY)
    return bytes(signed.signature)


def onboard_holder(suite: TrexSuite, wallet: ChecksumAddress, country: int, *, with_claim: bool = True) -> str:
    """Give `wallet` (an unlocked account: it manages its identity and adds the claim itself) an ONCHAINID,
    register it in the identity registry with `country`, and add the issuer's signed KYC claim. Returns the
    identity's address. Without the claim the wallet is registered but not verified."""
    owner = suite.owner
    transact(suite.identity_factory.functions.createIdentity(wallet, f"kogi-{wallet.lower()}"), owner)
    identity_address = suite.identity_factory.functions.getIdentity(wallet).call()
    identity = _at(suite.w3, "Identity", identity_address)
    transact(suite.identity_registry.functions.registerIdentity(wallet, identity_address, country), owner)
    if with_claim:
        signature = _sign_claim(identity_address, KYC_TOPIC, CLAIM_DATA)
        transact(
            identity.functions.addClaim(
                KYC_TOPIC, CLAIM_SCHEME_ECDSA, suite.claim_issuer.address, signature, CLAIM_DATA, ""
            ),
            wallet,
        )
    suite.identities[wallet] = Web3.to_checksum_address(identity_address)
    return str(identity_address)


def measure_trex_transfer(
    w3: Web3,
    owner: ChecksumAddress,
    sender: ChecksumAddress,
    recipient: ChecksumAddress,
    *,
    country_module: bool = True,
) -> dict[str, Any]:
    """Deploy a suite, make `sender` and `recipient` verified holders (minted to both), warm the pair up with
    one transfer, then return the gas of a second transfer (`transfer_existing`) and the suite."""
    suite = deploy_trex_suite(w3, owner, country_module=country_module)
    for wallet, country in ((sender, COUNTRY_DE), (recipient, COUNTRY_FR)):
        onboard_holder(suite, wallet, country)
        transact(suite.token.functions.mint(wallet, 1_000 * TOKEN_UNIT), owner)
    transact(suite.token.functions.transfer(recipient, TOKEN_UNIT), sender)
    receipt = transact(suite.token.functions.transfer(recipient, TOKEN_UNIT), sender)
    return {"transfer_existing": int(receipt["gasUsed"]), "suite": suite}


def describe() -> dict[str, Any]:
    """What the peer is, for the bench report."""
    return {
        "package": f"{TREX_PACKAGE}@{TREX_VERSION}",
        "onchain_id": f"{ONCHAINID_PACKAGE}@{ONCHAINID_VERSION}",
        "artifacts": "shipped in the npm packages (solc 0.8.17), not rebuilt",
        "deployment": "TREXFactory.deployTREXSuite: proxies of token, identity registry (+ storage), trusted "
        "issuers and claim topics registries, modular compliance; ONCHAINID identity proxies via IdFactory",
        "compliance_modules": ["CountryAllowModule"],
        "claim_topics": 1,
        "trusted_issuers": 1,
    }
