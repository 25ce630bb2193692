"""Auto-sync: every linked account's ledger transactions into its Xero bank feed (docs/auto-sync.md).

- ``statements``: ledger transactions to Xero bank statements that add up, split to Xero's limits (pure).
- ``messages``: the feed-sync and dispatch messages, their groups and deduplication ids (pure).
- ``dispatch``: the 3-hour fan-out of every due feed, grouped by Xero tenant.
- ``worker``: one tenant's feeds brought up to date: status checks, statements, cursors.
- ``requests``: ``request_feed_sync`` (connect's backfill after a link) and sync now.
- ``parked_resumer``: parked work sent back to its queue when its wait is over (the every-minute schedule).
- ``adapters``: the SQS and DynamoDB pieces the above are handed.
"""
