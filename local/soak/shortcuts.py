"""Work the soak skips because its answer is known without doing it; none of it changes what the product does or
what moto answers (docs/soak.md, "Where the time goes").

- An idle SQS poller's receive: the local runner's pollers receive every half second when idle, and at every
  wake, as Lambda polls; each receive is a full AWS call (built, signed, parsed by moto, answered). The driver
  knows from moto's queue (in this process) whether a receive would hand anything out; when it would not, the
  receive is not made: it would have answered no messages and changed nothing (a FIFO group stays held, a
  hidden message stays hidden).
- SigV4 signatures on calls handed to moto in this process (``local/aws_in_process.py``): moto never checks a
  signature; it reads the access key and region from the Authorization header's credential scope, which is kept
  (the signature itself is not computed). Requests to anything else, and presigned URLs, are signed as before.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.signers import RequestSigner

from local import aws_in_process

_signed = RequestSigner.sign


def receive_only_when_ready(mapping: Any, ready: Callable[[], bool]) -> None:
    """Make ``mapping``'s receive a no-op (no messages) while ``ready()`` says its queue has none to hand out."""
    receive = mapping._receive

    def _receive() -> list[dict[str, Any]]:
        return receive() if ready() else []

    mapping._receive = _receive


def sign_cheaply_in_process(on: bool = True) -> None:
    """Skip computing SigV4 signatures of requests that go to moto in this process (``on=False``: sign again)."""
    RequestSigner.sign = _unsigned_in_process if on else _signed


def _unsigned_in_process(self: RequestSigner, operation_name: str, request: Any, region_name: str | None = None,
                         signing_type: str = "standard", expires_in: int | None = None,
                         signing_name: str | None = None) -> None:
    if signing_type != "standard" or not aws_in_process.handles(str(request.url)):
        return _signed(self, operation_name, request, region_name=region_name, signing_type=signing_type,
                       expires_in=expires_in, signing_name=signing_name)
    credentials = self._credentials.get_frozen_credentials() if self._credentials is not None else None
    key = credentials.access_key if credentials is not None else "anonymous"
    moment = datetime.now(UTC)
    scope = f"{moment:%Y%m%d}/{region_name or self._region_name}/{signing_name or self._signing_name}/aws4_request"
    for name in ("Authorization", "X-Amz-Date"):
        if name in request.headers:
            del request.headers[name]
    request.headers["X-Amz-Date"] = f"{moment:%Y%m%dT%H%M%SZ}"
    request.headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={key}/{scope}, "
                                        "SignedHeaders=host;x-amz-date, Signature=not-computed-in-process")
    return None
