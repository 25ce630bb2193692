"""Receipts to Xero: what each file is, what to upload, and what to report when a file cannot go."""
