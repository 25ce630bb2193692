"""HTTP client of the ledger (service to service inside the bank; correlation by X-Request-Id)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from xerosync import deadline
from xerosync.errors import NotFound, TemporarilyUnavailable, UpstreamUnavailable
from xerosync.ledger.models import BusinessProfile, LedgerAccount, LedgerTransaction, TransactionPage
from xerosync.lifecycle import per_cold_start
from xerosync.settings import get_settings

MAX_PAGE = 500  # the contract's largest page
LEDGER_CALL_SECONDS = 1.0  # the least an HTTP request must have left to call the ledger (xerosync.deadline)


class _RetryInTime(Retry):
    """urllib3's retries of a read, ended when the HTTP request they serve has no time left for another attempt
    (xerosync.deadline): the last failure is then the answer."""

    def is_exhausted(self) -> bool:
        return super().is_exhausted() or not deadline.allows(LEDGER_CALL_SECONDS)


# Reads only: retrying a GET on a 5xx or a dropped connection is always safe. Three more tries, 0.2 s backoff.
READ_RETRIES = _RetryInTime(total=3, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504),
                            allowed_methods=frozenset({"GET", "HEAD"}))


class LedgerError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class LedgerClient:
    def __init__(self, base_url: str, session: requests.Session | None = None,
                 timeout: tuple[float, float] = (3.05, 20.0)) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        if session is None:
            session = requests.Session()
            session.mount("http://", HTTPAdapter(max_retries=READ_RETRIES))
            session.mount("https://", HTTPAdapter(max_retries=READ_RETRIES))
        self.session = session

    def _get(self, path: str, params: dict[str, Any] | None = None, *, stream: bool = False,
             method: str = "GET") -> requests.Response:
        timeout = self.timeout
        left = deadline.left()
        if left is not None:  # an HTTP request's: the ledger's answer is waited for only while the request can use it
            if left < LEDGER_CALL_SECONDS:
                raise TemporarilyUnavailable("The bank's ledger could not be asked in time, so the request could not "
                                             "be completed.")
            timeout = (min(timeout[0], left), min(timeout[1], left))
        try:
            response = self.session.request(method, f"{self.base_url}{path}", params=params, timeout=timeout,
                                            stream=stream, headers={"X-Request-Id": str(uuid.uuid4())})
        except requests.RequestException as exc:
            raise UpstreamUnavailable("The bank's ledger could not be reached.",
                                      action="Try again in a few minutes.") from exc
        if response.status_code >= 400:
            try:
                error = response.json().get("error", {})
            except ValueError:
                error = {}
            code, message = error.get("code", "ledger_error"), error.get("message", response.reason)
            if response.status_code == 404:
                raise NotFound(message, code=code)
            if response.status_code >= 500:
                raise UpstreamUnavailable("The bank's ledger is unavailable.", action="Try again in a few minutes.")
            raise LedgerError(response.status_code, code, message)
        return response

    def business(self, business_id: str) -> BusinessProfile:
        return BusinessProfile.model_validate(self._get(f"/v1/businesses/{business_id}").json())

    def accounts(self, business_id: str) -> list[LedgerAccount]:
        body = self._get(f"/v1/businesses/{business_id}/accounts").json()
        return [LedgerAccount.model_validate(a) for a in body["accounts"]]

    def account(self, account_id: str) -> LedgerAccount:
        return LedgerAccount.model_validate(self._get(f"/v1/accounts/{account_id}").json())

    def transactions(self, account_id: str, *, after_sequence: int = 0, limit: int = MAX_PAGE,
                     posted_from: str | None = None) -> TransactionPage:
        params: dict[str, Any] = {"after_sequence": after_sequence, "limit": limit}
        if posted_from:
            params["posted_from"] = posted_from
        return TransactionPage.model_validate(self._get(f"/v1/accounts/{account_id}/transactions", params).json())

    def iter_transactions(self, account_id: str, *, after_sequence: int = 0, posted_from: str | None = None,
                          page_size: int = MAX_PAGE) -> Iterator[LedgerTransaction]:
        cursor = after_sequence
        while True:
            page = self.transactions(account_id, after_sequence=cursor, limit=page_size, posted_from=posted_from)
            yield from page.transactions
            if not page.has_more or page.next_after_sequence is None:
                return
            cursor = page.next_after_sequence

    def transaction(self, account_id: str, transaction_id: str) -> LedgerTransaction:
        return LedgerTransaction.model_validate(
            self._get(f"/v1/accounts/{account_id}/transactions/{transaction_id}").json())

    def attachment_size(self, account_id: str, transaction_id: str, attachment_id: str) -> int:
        path = f"/v1/accounts/{account_id}/transactions/{transaction_id}/attachments/{attachment_id}"
        return int(self._get(path, method="HEAD").headers.get("Content-Length", "0"))

    def attachment_bytes(self, account_id: str, transaction_id: str, attachment_id: str, *, max_bytes: int) -> bytes:
        """The file's bytes, refusing (before reading them into memory) anything above ``max_bytes``."""
        path = f"/v1/accounts/{account_id}/transactions/{transaction_id}/attachments/{attachment_id}"
        response = self._get(path, stream=True)
        try:
            declared = int(response.headers.get("Content-Length", "0"))
            if declared > max_bytes:
                raise ValueError(f"attachment is {declared} bytes, above {max_bytes}")
            chunks, read = [], 0
            for chunk in response.iter_content(64 * 1024):
                read += len(chunk)
                if read > max_bytes:  # a server that lied about Content-Length
                    raise ValueError(f"attachment exceeds {max_bytes} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            response.close()


@per_cold_start
def get_ledger_client() -> LedgerClient:
    return LedgerClient(str(get_settings().ledger_api_url))
