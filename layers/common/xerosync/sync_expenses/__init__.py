"""Sync expenses (the help centre's "Guide to Syncing Expenses to Xero"): outbound payments of linked
accounts become expense records, are reviewed, mapped and edited, and are pushed to Xero as Spend Money.

Pure domain logic (no boto3, no requests): ``models``, ``reference_data``, ``mapping``, ``validation``,
``spend_money``, ``state_machine``. Adapters: ``store`` (DynamoDB), ``fifo_queues`` (SQS), ``xero_gateway`` (the
Xero calls). Use cases: ``service`` (HTTP), ``worker`` (Spend Money batches), ``event_intake`` (the ledger's events
into expense records). Wiring: ``wiring``. The design is written up in docs/sync-expenses.md.
"""
