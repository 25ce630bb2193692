"""Emulator of the bank's core ledger: the HTTP API and EventBridge events of docs/ledger-contract.md.

    from emulators.ledger import LedgerEmulator
    led = LedgerEmulator(clock=None, event_publisher=None)
    base_url = led.start(host="127.0.0.1", port=0)
    summary = led.seed_demo(seed=7, businesses=3, transactions_per_account=2000)
    ...
    led.stop()

See README.md in this folder.
"""

from emulators.ledger.emulator import DEFAULT_EVENT_BUS_NAME, LedgerEmulator
from emulators.ledger.events import (
    EVENT_SOURCE,
    TRANSACTION_POSTED,
    TRANSACTION_UPDATED,
    EventBridgePublisher,
    EventPublisher,
    EventPublishError,
    LedgerEvent,
    PutEventsEntry,
    RecordingPublisher,
)
from emulators.ledger.generator import SPECIAL_RECEIPTS, AttachmentRef, SeedSummary
from emulators.ledger.models import (
    Account,
    Attachment,
    Business,
    Counterparty,
    LedgerError,
    ReceiptSpec,
    Transaction,
    TransactionPage,
)
from emulators.ledger.receipts import (
    RECEIPT_KINDS,
    XERO_MAX_ATTACHMENT_BYTES,
    XERO_MAX_ATTACHMENTS,
    GeneratedReceipt,
    UploadedReceipt,
    generated_spec,
    min_size,
    uploaded_spec,
)
from emulators.ledger.state import UNSET, TransactionChanges

__all__ = [
    "DEFAULT_EVENT_BUS_NAME",
    "EVENT_SOURCE",
    "RECEIPT_KINDS",
    "SPECIAL_RECEIPTS",
    "TRANSACTION_POSTED",
    "TRANSACTION_UPDATED",
    "UNSET",
    "XERO_MAX_ATTACHMENTS",
    "XERO_MAX_ATTACHMENT_BYTES",
    "Account",
    "Attachment",
    "AttachmentRef",
    "Business",
    "Counterparty",
    "EventBridgePublisher",
    "EventPublishError",
    "EventPublisher",
    "GeneratedReceipt",
    "LedgerEmulator",
    "LedgerError",
    "LedgerEvent",
    "PutEventsEntry",
    "ReceiptSpec",
    "RecordingPublisher",
    "SeedSummary",
    "Transaction",
    "TransactionChanges",
    "TransactionPage",
    "UploadedReceipt",
    "generated_spec",
    "min_size",
    "uploaded_spec",
]
