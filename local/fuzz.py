"""`make fuzz`: the HTTP API fuzzed against its own OpenAPI document (docs/openapi.json) by schemathesis.

The whole local stack runs (the runner on moto server, the emulators), seeded as the web console is, with the
Singapore business connected to its Xero organisation, its HKD account linked with three weeks of history (so
that 300 payments are expenses) and its categories mapped. Schemathesis calls every operation as that
business's Finance user, with every check on and the stateful phase following the document's links (an expense
listed is read, edited and synced; a job started is followed), and fails on any answer outside the document, any
500, any request valid by the document that the product refuses.

    python -m local fuzz [--max-examples N] [--seed S] [--phases ...]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local.console.seed import ORGANISATION, SUGGESTED_MAPPING, seed_console
from local.stack import DevStack, DevStackConfig

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EXAMPLES = 40
PHASES = "examples,coverage,fuzzing,stateful"


def _connected_business(stack: DevStack) -> tuple[str, str]:
    """The console's Singapore business, connected, linked with its history, mapped: a token for its Finance user,
    and its linked account."""
    seed = seed_console(stack)
    token = stack.token(business_id=seed.business_id, user_id="u_fuzz", role="Finance")

    def ok(method: str, path: str, body: object = None) -> dict[str, Any]:
        response = stack.api(method, path, token=token, json_body=body, timeout=60)
        if response.status_code >= 300:
            raise RuntimeError(f"setting up the fuzzed business: {method} {path} -> {response.status_code} "
                               f"{response.text[:300]}")
        return dict(response.json())

    started = ok("POST", "/v1/xero/connect")
    redirect = stack.xero.consent(str(started["authorize_url"]), tenant_ids=[seed.organisations[ORGANISATION]])
    query = {k: v[0] for k, v in parse_qs(urlsplit(redirect).query).items()}
    ok("POST", "/v1/xero/connect/complete", {"code": query["code"], "state": query["state"]})
    banks = ok("GET", "/v1/xero/bank-accounts")["accounts"]
    hkd = next(a for a in banks if a["currency_code"] == "HKD")
    ok("PUT", f"/v1/bank-accounts/{seed.accounts['HKD']}/feed",
       {"xero_account_id": hkd["account_id"], "backfill_from": seed.history_from.isoformat()})
    stack.xero.settle_pending()
    stack.drain(timeout=300)
    offered = {a["code"]: a["account_id"] for a in ok("GET", "/v1/expenses/reference-data")["accounts"]}
    ok("PUT", "/v1/expenses/mappings", {"mappings": [
        {"category": category, "xero_account_id": offered[code]}
        for category, code in SUGGESTED_MAPPING.items() if code in offered]})
    return token, seed.accounts["HKD"]


# Operations that end what the others need (the connection, the linked account): fuzzed after the others, in
# a pass of their own, so that the first pass reaches real expenses and jobs.
ENDINGS = ("DELETE /v1/bank-accounts/{account_id}/feed", "DELETE /v1/xero/connection")
CONFIG = ROOT / "local" / "fuzz.toml"


def run(max_examples: int = DEFAULT_EXAMPLES, seed: int = 1, phases: str = PHASES, workers: int = 1) -> int:
    schemathesis = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    with DevStack(DevStackConfig(log_level="ERROR")) as stack:
        token, linked = _connected_business(stack)
        api = stack.urls["api"]
        # Every check but the one expecting 405 for a method without a route: API Gateway answers those 404.
        command = [schemathesis, "--config-file", str(CONFIG), "run", f"{api}/openapi.json", "--url", api,
                   "--header", f"Authorization: Bearer {token}", "--checks", "all",
                   "--exclude-checks", "unsupported_method",
                   "--max-examples", str(max_examples), "--seed", str(seed), "--workers", str(workers),
                   "--request-timeout", "35", "--suppress-health-check", "all", "--no-color"]
        endings = [arg for name in ENDINGS for arg in ("--include-name", name)]
        passes = [("every operation but the endings", [*command, "--phases", phases,
                                                        *[a.replace("--include", "--exclude") for a in endings]]),
                  ("the endings", [*command, "--phases", phases.replace(",stateful", ""), *endings])]
        worst = 0
        for title, args in passes:
            started = time.monotonic()
            print(f"fuzzing {api}, {title}, as a connected Finance user ({max_examples} examples an operation, "
                  f"seed {seed})", flush=True)
            env = {**os.environ, "SCHEMATHESIS_HOOKS": "", "FUZZ_LINKED_ACCOUNT": linked}
            result = subprocess.run(args, env=env, check=False)  # noqa: S603
            print(f"schemathesis finished in {time.monotonic() - started:.0f} s with exit code {result.returncode}",
                  flush=True)
            worst = worst or result.returncode
        return worst
