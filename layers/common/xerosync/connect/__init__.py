"""Connecting a business to its Xero organisation: OAuth, bank feeds, status, disconnect from either side."""
