"""Use cases (issuance, funding, distributions, ...) on top of the ledger and contracts."""
