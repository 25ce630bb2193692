"""Item keys of the main table (pk/sk, one overloaded GSI ``gsi1``).

Per business: the Xero connection, bank feeds, category mappings, expenses and sync jobs share the
partition ``BIZ#<business_id>`` so that one query reads a business's state.
"""

from __future__ import annotations


def business_pk(business_id: str) -> str:
    return f"BIZ#{business_id}"


def connection_key(business_id: str) -> dict[str, str]:
    return {"pk": business_pk(business_id), "sk": "CONNECTION"}
