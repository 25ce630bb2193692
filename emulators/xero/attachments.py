"""Attachments on bank transactions: ``/BankTransactions/{id}/Attachments[/{FileName}]``.

* The body is the file's raw bytes; its type is judged by the file name's extension (Xero's published
  list of types is a list of extensions, and the Content-Type an SDK sends is often just
  application/octet-stream). MimeType in the answer follows the extension.
* At most 10 attachments per document; a file over the size limit gets 413 with Xero's body shape.
* PUT always adds a file (two files may share a name); POST replaces the file of the same name, or adds
  it when there is none.
"""

from __future__ import annotations

import mimetypes
import re
from typing import Any

from .accounting import AccountingService, envelope
from .formats import utc
from .http import (
    ApiRequest,
    ApiResponse,
    Router,
    accounting_response,
    not_found,
    payload_too_large,
    validation_exception,
)
from .models import Attachment, BankTransaction, new_id

ATTACHMENTS_READ = frozenset({"accounting.attachments", "accounting.attachments.read"})
ATTACHMENTS_WRITE = frozenset({"accounting.attachments"})

#: Xero's list of attachment types (docs/xero-facts.md#attachments). Later
#: lists add more (7z, eml, msg, odt, ods...); the first list is what every Xero accepts.
ALLOWED_EXTENSIONS = frozenset(
    {
        "bmp", "csv", "doc", "docx", "gif", "jpeg", "jpg", "odf", "pdf", "png", "ppt", "pptx", "rar", "rtf",
        "tif", "tiff", "txt", "xls", "xlsx", "zip",
    }
)  # fmt: skip
#: Characters reportedly refused in file names ([2ndary], UNCONFIRMED).
_RESERVED = re.compile(r'[<>:"/\\|?*+]')
MAX_FILE_NAME_LENGTH = 255
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


class AttachmentsService:
    def __init__(self, accounting: AccountingService) -> None:
        self.accounting = accounting
        self.clock = accounting.clock
        self.config = accounting.config

    def register(self, router: Router) -> None:
        base = "/api.xro/2.0/BankTransactions/{BankTransactionID}/Attachments"
        router.add("GET", base, self.list_attachments, "accounting", ATTACHMENTS_READ)
        router.add("GET", base + "/{FileName}", self.download, "accounting", ATTACHMENTS_READ)
        router.add("PUT", base + "/{FileName}", self.put, "accounting", ATTACHMENTS_WRITE)
        router.add("POST", base + "/{FileName}", self.post, "accounting", ATTACHMENTS_WRITE)

    def _transaction(self, request: ApiRequest) -> BankTransaction | None:
        organisation = self.accounting.organisation_of(request)
        return organisation.bank_transactions.get(request.path_vars["BankTransactionID"].lower())

    def _answer(self, request: ApiRequest, transaction: BankTransaction, attachments: list[Attachment]) -> ApiResponse:
        url = f"https://api.xero.com/api.xro/2.0/BankTransactions/{transaction.bank_transaction_id}"
        items = [a.to_xero(url) for a in attachments]
        return accounting_response(request, 200, envelope(request, self.clock.time(), "Attachments", items), "Response")

    def list_attachments(self, request: ApiRequest) -> ApiResponse:
        transaction = self._transaction(request)
        if transaction is None:
            return not_found()
        return self._answer(request, transaction, transaction.attachments)

    def download(self, request: ApiRequest) -> ApiResponse:
        transaction = self._transaction(request)
        if transaction is None:
            return not_found()
        wanted = request.path_vars["FileName"]
        by_id = _GUID.match(wanted) is not None
        for attachment in transaction.attachments:
            if (by_id and attachment.attachment_id == wanted.lower()) or attachment.file_name == wanted:
                return ApiResponse(200, attachment.content, attachment.mime_type)
        return not_found()

    def put(self, request: ApiRequest) -> ApiResponse:
        return self._upload(request, replace=False)

    def post(self, request: ApiRequest) -> ApiResponse:
        return self._upload(request, replace=True)

    def _refuse(self, request: ApiRequest, message: str) -> ApiResponse:
        return validation_exception(request, [{"ValidationErrors": [{"Message": message}]}])

    def _upload(self, request: ApiRequest, replace: bool) -> ApiResponse:
        transaction = self._transaction(request)
        if transaction is None:
            return not_found()
        file_name = request.path_vars["FileName"]
        if len(request.body) > self.config.attachment_max_bytes:
            return payload_too_large()
        problem = _file_name_problem(file_name)
        if problem is not None:
            return self._refuse(request, problem)
        if not request.body:
            return self._refuse(request, "The attachment is empty.")
        now = utc(self.clock.time())
        same_name = next((a for a in transaction.attachments if a.file_name == file_name), None)
        mime_type = mimetypes.guess_type(file_name)[0] or request.content_type or "application/octet-stream"
        if replace and same_name is not None:
            same_name.content = request.body
            same_name.mime_type = mime_type
            return self._answer(request, transaction, [same_name])
        if len(transaction.attachments) >= self.config.attachments_per_document:
            return self._refuse(
                request,
                f"The maximum number of attachments ({self.config.attachments_per_document}) has been reached "
                "for this document.",
            )
        attachment = Attachment(new_id(), file_name, mime_type, request.body, now)
        transaction.attachments.append(attachment)
        return self._answer(request, transaction, [attachment])


def _file_name_problem(file_name: str) -> str | None:
    if not file_name.strip():
        return "A file name must be specified."
    if len(file_name) > MAX_FILE_NAME_LENGTH:
        return f"The file name must be {MAX_FILE_NAME_LENGTH} characters or fewer."
    if _RESERVED.search(file_name):
        return f"The file name '{file_name}' contains characters that are not allowed."
    extension = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    if extension not in ALLOWED_EXTENSIONS:
        return f"The file type '.{extension}' is not supported."
    return None


def attachment_summary(attachment: Attachment) -> dict[str, Any]:
    """What the control API reports: enough to assert the right bytes arrived without carrying them."""
    return {
        "AttachmentID": attachment.attachment_id,
        "FileName": attachment.file_name,
        "MimeType": attachment.mime_type,
        "ContentLength": len(attachment.content),
        "sha256": attachment.sha256,
    }
