"""Every deployable contract fits EIP-170's 24,576-byte code limit (mainnet refuses larger code).

PortfolioToken sits close to it (ERC-20 + Permit + Votes + roles + revenue share + rounds +
recovery): this test names the contract and its size instead of a deployment failing somewhere else.
"""

from __future__ import annotations

import pytest

from contracts.artifacts import load_artifact

EIP170_LIMIT_BYTES = 24_576
DEPLOYED = (
    "ComplianceRegistry",
    "DonationRouter",
    "FundingRound",
    "LedgerAnchor",
    "PayoutSplitter",
    "PortfolioFactory",
    "PortfolioToken",
    "RightsToken",
)


@pytest.mark.parametrize("name", DEPLOYED)
def test_runtime_code_fits_eip170(name: str) -> None:
    size = (len(load_artifact(name).deployed_bytecode) - 2) // 2
    assert 0 < size <= EIP170_LIMIT_BYTES, f"{name} runtime code is {size} bytes (limit {EIP170_LIMIT_BYTES})"
