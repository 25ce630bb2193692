"""The bank's core ledger, as this product reads it (docs/ledger-contract.md)."""
