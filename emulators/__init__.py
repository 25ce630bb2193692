"""Stand-ins for the systems the product talks to, run on loopback by tests, benchmarks and the local runner.

``emulators.xero`` is Xero (identity, Accounting, Bank Feeds), held to Xero's OpenAPI files; ``emulators.ledger``
is the bank's ledger per docs/ledger-contract.md. What both use sits beside them: ``time_control`` (the clocks a
test or the runner hands the product and the emulators alike) and ``chance`` (seeded draws for planned faults).
Nothing here imports the product (``xerosync``) or the local runner (``local``).
"""
