"""Which of an expense's receipts to upload to its Spend Money, decided before any byte is read.

The help centre: "Xero only allows attachments less than 3MB, up to a maximum of 10 attachments". A file that
breaks a rule is not sent; it is reported with the reason and the way out. A file already in Xero with the
same content is never sent again; a file whose content changed under the same name replaces the old one.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from xerosync.attachments.files import declared_type_problem
from xerosync.ledger.models import AttachmentMeta
from xerosync.model import Model


class UploadState(StrEnum):
    UPLOADING = "UPLOADING"  # written just before the call: after a crash, Xero is asked before sending again
    UPLOADED = "UPLOADED"
    REJECTED = "REJECTED"


class UploadRecord(Model):
    """What the product knows of one receipt's upload (kept per expense)."""

    attachment_id: str
    original_name: str
    sha256: str
    size_bytes: int
    state: UploadState
    xero_file_name: str | None = None
    xero_attachment_id: str | None = None
    reason: str | None = None
    action: str | None = None
    attempts: int = 0  # uploads begun (each under a key of its own: Xero replays a remembered failure per key)
    # UPLOADING: until when the run that wrote it may still be sending it (no other run sends it before then);
    # None once that run knows its call is over (it failed), or before this was recorded.
    lease_until: str | None = None


class Step(StrEnum):
    SKIP = "SKIP"
    UPLOAD = "UPLOAD"
    REPLACE = "REPLACE"
    VERIFY = "VERIFY"  # an earlier attempt's outcome is unknown: look in Xero before sending
    REJECT = "REJECT"


@dataclass(frozen=True)
class Decision:
    file: AttachmentMeta
    step: Step
    reason: str | None = None
    action: str | None = None
    replaces: UploadRecord | None = None


EMPTY = ("The file is empty.", "Attach the receipt again in the bank's app, then sync the expense again.")
TYPE_ACTION = "Attach the receipt as a PDF, JPEG or PNG in the bank's app, then sync the expense again."
TOO_MANY_ACTION = "Keep the 10 receipts that matter on this payment in the bank's app, then sync the expense again."


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def plan_uploads(files: list[AttachmentMeta], previous: dict[str, UploadRecord], *, max_bytes: int,
                 max_count: int) -> list[Decision]:
    """Decide for every current receipt, in the order the ledger lists them.

    ``previous`` maps ledger attachment ids to what happened to them before. A receipt the customer replaced
    keeps its name and gets new content (and a new id): it replaces the file of that name in Xero, if that
    file's receipt is no longer on the payment. Another receipt that only shares the name (a second
    ``image.jpg`` from a phone) is added beside it.
    """
    current = {f.attachment_id for f in files}
    in_xero_by_name = {r.original_name: r for r in previous.values()
                       if r.state in (UploadState.UPLOADED, UploadState.UPLOADING) and r.xero_file_name}
    # Xero keeps what it has (there is no API to delete an attachment): it all counts towards the 10.
    occupied = len(in_xero_by_name)
    decisions = []
    sending: set[str] = set()  # content already on its way in this plan: the same file twice goes once
    for file in files:
        earlier = previous.get(file.attachment_id)
        same_content = next((r for r in previous.values() if r.sha256 == file.sha256
                             and r.state == UploadState.UPLOADED), None)
        if same_content is not None or file.sha256 in sending:
            decisions.append(Decision(file, Step.SKIP))
            continue
        if earlier is not None and earlier.state == UploadState.UPLOADING and earlier.sha256 == file.sha256:
            sending.add(file.sha256)
            decisions.append(Decision(file, Step.VERIFY, replaces=earlier))
            continue
        if file.size_bytes == 0:
            decisions.append(Decision(file, Step.REJECT, *EMPTY))
            continue
        if file.size_bytes >= max_bytes:
            decisions.append(Decision(
                file, Step.REJECT, f"The file is {_megabytes(file.size_bytes)}; Xero accepts attachments under "
                                   f"{_megabytes(max_bytes)}.",
                "Attach a smaller copy (a compressed PDF or image) in the bank's app, then sync the expense again."))
            continue
        replaced = in_xero_by_name.get(file.file_name)
        if replaced is not None and replaced.sha256 != file.sha256 and replaced.attachment_id not in current:
            sending.add(file.sha256)
            decisions.append(Decision(file, Step.REPLACE, replaces=replaced))
            continue
        if occupied >= max_count:
            decisions.append(Decision(file, Step.REJECT,
                                      f"Xero allows at most {max_count} attachments on a transaction.",
                                      TOO_MANY_ACTION))
            continue
        occupied += 1
        sending.add(file.sha256)
        decisions.append(Decision(file, Step.UPLOAD))
    return decisions


class ReceiptFacts(Protocol):
    """What the ledger says of a receipt (the ledger's AttachmentMeta, an expense's copy of it)."""

    attachment_id: str
    file_name: str
    content_type: str
    size_bytes: int
    sha256: str


def before_sync(receipts: Sequence[ReceiptFacts], *, max_bytes: int, max_count: int) -> dict[str, tuple[str, str]]:
    """The receipts that will not go to Xero when the expense is synced, each with its reason and way out: the
    upload's own rules in its order (empty, size, count; then the type, judged from the name and declared type
    until the upload reads the bytes)."""
    files = [AttachmentMeta(attachment_id=r.attachment_id, file_name=r.file_name, content_type=r.content_type,
                            size_bytes=r.size_bytes, sha256=r.sha256) for r in receipts]
    refused: dict[str, tuple[str, str]] = {}
    for decision in plan_uploads(files, {}, max_bytes=max_bytes, max_count=max_count):
        if decision.step == Step.REJECT:
            refused[decision.file.attachment_id] = (str(decision.reason), str(decision.action))
        elif decision.step == Step.UPLOAD:
            problem = declared_type_problem(decision.file.file_name, decision.file.content_type)
            if problem is not None:
                refused[decision.file.attachment_id] = (problem, TYPE_ACTION)
    return refused
