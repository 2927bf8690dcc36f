"""Use cases on top of the ledger, the indexer and the contracts, with explicit dependencies in and a
typed result out, so that the `kogi` commands (api/cli/) only parse, call one of these and print:
anchoring the journal (anchoring), deploying the core (deployment), following a chain (indexing),
recovering from a lost chain (chain_recovery) and the demo's story (demo)."""
