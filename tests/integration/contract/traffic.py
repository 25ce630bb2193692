"""The contract tests' record of what crossed the wire to Xero, each exchange checked against Xero's OpenAPI
files as it happens."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from emulators.xero.spec import SpecViolation, XeroSpecs


@dataclass
class CheckedTraffic:
    """Every exchange on Xero's paths, checked against the files; ``violations`` must stay empty."""

    specs: XeroSpecs
    checked: list[tuple[str, str, int]] = field(default_factory=list)
    violations: list[SpecViolation] = field(default_factory=list)
    allowed_request_violations: int = 0

    def hook(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        path = urlsplit(response.request.url or "").path
        if path.startswith("/_emulator") or path.startswith("/identity/") or path.startswith("/connect/"):
            return  # login and token endpoints are not in the files
        self.checked.append((response.request.method or "", path, response.status_code))
        self.violations.extend(self.specs.validate_requests_response(response))
