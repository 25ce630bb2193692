"""Item keys of the main table (pk/sk, one overloaded GSI ``gsi1``).

Per business: the Xero connection, bank feeds, category mappings, expenses and sync jobs share the
partition ``BIZ#<business_id>`` so that one query reads a business's state.
"""

from __future__ import annotations


def business_pk(business_id: str) -> str:
    return f"BIZ#{business_id}"


def connection_key(business_id: str) -> dict[str, str]:
    return {"pk": business_pk(business_id), "sk": "CONNECTION"}


# Every business's Xero connection in one index partition, sorted by tenant: "all connections" for the
# periodic check, "everything on this organisation" by prefix (several businesses may feed one).
CONNECTIONS_GSI_PK = "CONNECTIONS"


def connection_gsi(tenant_id: str, business_id: str) -> dict[str, str]:
    return {"gsi1pk": CONNECTIONS_GSI_PK, "gsi1sk": f"{tenant_id}#{business_id}"}


def tenant_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}"


def governor_key(tenant_id: str) -> dict[str, str]:
    return {"pk": tenant_pk(tenant_id), "sk": "RATE"}


def app_minute_key(minute: int) -> dict[str, str]:
    return {"pk": "XEROAPP", "sk": f"MINUTE#{minute}"}


def tokens_key(business_id: str, generation: str) -> dict[str, str]:
    """Key in the tokens table (a table of its own, readable only by functions that call Xero): one item per
    connection generation, so a late cleanup or a warm cache of an ended connection can never reach a newer one."""
    return {"pk": f"{business_pk(business_id)}#GEN#{generation}"}


def xero_connection_claim_key(connection_id: str) -> dict[str, str]:
    """Who holds a Xero connection (one per Xero user and organisation, so several businesses may share it)."""
    return {"pk": f"XEROCONN#{connection_id}", "sk": "CLAIM"}


PARKED_PK = "PARKED"


def parked_key(resume_at_ms: int, message_id: str) -> dict[str, str]:
    """Parked work sorts by when it may resume, so one query finds everything due."""
    return {"pk": PARKED_PK, "sk": f"{resume_at_ms:015d}#{message_id}"}


def feed_key(business_id: str, account_id: str) -> dict[str, str]:
    return {"pk": business_pk(business_id), "sk": f"FEED#{account_id}"}


# Every live feed (PENDING or ACTIVE) in one sparse index partition, sorted by tenant: the 3-hour
# dispatcher pages through it and groups consecutive feeds of a tenant into one message.
LIVE_FEEDS_GSI_PK = "FEEDS#LIVE"


def live_feed_gsi(tenant_id: str, business_id: str, account_id: str) -> dict[str, str]:
    return {"gsi1pk": LIVE_FEEDS_GSI_PK, "gsi1sk": f"{tenant_id}#{business_id}#{account_id}"}


def oauth_state_key(state: str) -> dict[str, str]:
    return {"pk": f"OAUTH#{state}", "sk": "STATE"}


def consent_key(business_id: str, generation: str) -> dict[str, str]:
    """A Xero consent whose tokens were received: being finished, or waiting for its user to choose."""
    return {"pk": business_pk(business_id), "sk": f"CONSENT#{generation}"}


# Every open consent in one index partition, sorted by when it expires: the sweeper reads what is due.
CONSENTS_GSI_PK = "CONSENTS"


def consent_gsi(expires_at: float, business_id: str, generation: str) -> dict[str, str]:
    return {"gsi1pk": CONSENTS_GSI_PK, "gsi1sk": f"{int(expires_at):012d}#{business_id}#{generation}"}


def connection_check_key() -> dict[str, str]:
    """Where the periodic connection check stopped, so the next run continues from there."""
    return {"pk": "CONNECTION_CHECK", "sk": "POSITION"}


def sync_now_key(business_id: str) -> dict[str, str]:
    """When the business last asked to sync now (sync now is rate-limited per business)."""
    return {"pk": business_pk(business_id), "sk": "SYNC_NOW"}


# ---------------------------------------------------------------- sync expenses
def expense_key(business_id: str, transaction_id: str) -> dict[str, str]:
    """One expense per outbound payment; the ledger's transaction id is unique within the business."""
    return {"pk": business_pk(business_id), "sk": f"EXPENSE#{transaction_id}"}


def expense_list_gsi(business_id: str, tab: str, posted_at: str, transaction_id: str) -> dict[str, str]:
    """The Pending Sync and Synced tabs: one index partition per business and tab, newest payment first."""
    return {"gsi1pk": f"EXPENSES#{business_id}#{tab}", "gsi1sk": f"{posted_at}#{transaction_id}"}


def expense_mappings_key(business_id: str) -> dict[str, str]:
    return {"pk": business_pk(business_id), "sk": "EXPENSE_MAPPINGS"}


def sync_job_key(business_id: str, job_id: str) -> dict[str, str]:
    return {"pk": business_pk(business_id), "sk": f"SYNCJOB#{job_id}"}


def sync_activity_key(business_id: str) -> dict[str, str]:
    """The business's jobs being planned (their expenses show as being synced before the planner marks them)."""
    return {"pk": business_pk(business_id), "sk": "SYNC_ACTIVITY"}


def sync_batch_key(business_id: str, job_id: str, batch: int) -> dict[str, str]:
    """A job's batch remembers its send attempts, so a redelivered batch looks Xero up before sending."""
    return {"pk": business_pk(business_id), "sk": f"SYNCJOB#{job_id}#BATCH#{batch:04d}"}


# Batches whose last delivery has begun, in one index partition sorted by when: the minute's sweeper reads
# those that began long enough ago to have been killed at their timeout, and settles what nobody counted.
LAST_DELIVERIES_GSI_PK = "SYNCBATCHES#LAST_DELIVERY"


def last_delivery_gsi(at: float, business_id: str, job_id: str, batch: int) -> dict[str, str]:
    return {"gsi1pk": LAST_DELIVERIES_GSI_PK, "gsi1sk": f"{int(at):012d}#{business_id}#{job_id}#{batch:04d}"}


# Sync jobs dispatched and not completed, in one index partition sorted by when each is next checked: the minute's
# sweeper counts a batch whose expenses have all ended but that no delivery counted (docs/sync-expenses.md).
RUNNING_JOBS_GSI_PK = "SYNCJOBS#RUNNING"


def running_job_gsi(check_at: float, business_id: str, job_id: str) -> dict[str, str]:
    return {"gsi1pk": RUNNING_JOBS_GSI_PK, "gsi1sk": f"{int(check_at):012d}#{business_id}#{job_id}"}


def expense_reference_data_key(tenant_id: str) -> dict[str, str]:
    """Xero's accounts, tax rates, tracking and currencies, cached per organisation (shared by businesses)."""
    return {"pk": tenant_pk(tenant_id), "sk": "EXPENSE_REFERENCE_DATA"}


def xero_bank_accounts_key(tenant_id: str) -> dict[str, str]:
    """The organisation's Xero bank accounts, cached for the picker (shared by its businesses)."""
    return {"pk": tenant_pk(tenant_id), "sk": "XERO_BANK_ACCOUNTS"}


def receipt_uploads_key(business_id: str, transaction_id: str) -> dict[str, str]:
    """What happened to each receipt of one expense on its way to Xero."""
    return {"pk": business_pk(business_id), "sk": f"RECEIPTS#{transaction_id}"}
