"""The chaos soak (``make soak``): the product's functions as the local runner deploys them, on a virtual clock
the emulators share, over a seeded world of businesses, bank accounts and Xero organisations, with faults at
every boundary; then an auditor compares Xero with the ledger and the product's tables and says whether
anything is missing, duplicated or stuck. See docs/soak.md.
"""
