"""Chain follower that mirrors Kogi contract events into the ledger (issue 4)."""
