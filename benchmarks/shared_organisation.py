"""Several businesses on one Xero organisation, on the local stack: route latency, sync start, fair shares.

Prints, with the whole product running as deployed locally (the runner on moto server, the Xero and ledger
emulators, real time on both sides):

1. every HTTP route's median and p95 over 20 calls, with 1000 expenses per business and 3 businesses on one
   organisation, and what some of them cost in Xero calls (20 picker reads; 8 concurrent reference-data
   refreshes);
2. the time to answer "Sync Expenses" for 1, 100 and 1000 expenses, and for a double click of 1000;
3. the three businesses syncing their 1000 expenses each at once: each one's completion time, the
   organisation's Xero calls per minute while work waited, and the share of those calls Xero answered 429.

Fair means the three completion times within 10% of each other; full use means at least 90% of Xero's 60
calls a minute while work waits; well-behaved means under 1% of calls answered 429.
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common")]

from emulators.ledger import Counterparty  # noqa: E402
from local.stack import DevStack, DevStackConfig  # noqa: E402

EXPENSES = 1000
BUSINESSES = 3
SAMPLES = 20


class User:
    def __init__(self, stack: DevStack, business_id: str) -> None:
        self.stack = stack
        self.business_id = business_id
        self.token = stack.token(business_id=business_id, user_id="u_fiona", role="Finance")

    def call(self, method: str, path: str, body: Any = None, expect: int | None = 200) -> Any:
        response = self.stack.api(method, path, token=self.token, json_body=body, timeout=120)
        if expect is not None:
            assert response.status_code == expect, (method, path, response.status_code, response.text[:300])
        return response


def _connect(user: User, tenant: str) -> None:
    started = user.call("POST", "/v1/xero/connect").json()
    redirect = user.stack.xero.consent(started["authorize_url"], tenant_ids=[tenant])
    query = {k: v[0] for k, v in parse_qs(urlsplit(redirect).query).items()}
    user.call("POST", "/v1/xero/connect/complete", {"code": query["code"], "state": query["state"]})


def _business(stack: DevStack, tenant: str, name: str, expenses: int) -> tuple[User, list[str]]:
    """A Singapore business connected to ``tenant``, its HKD account linked to a new Xero account, travel mapped,
    and ``expenses`` outbound payments made pending expenses by the ledger's events."""
    ledger = stack.ledger
    business = ledger.create_business("SG", name).business_id
    account = ledger.create_account(business, "HKD").account_id
    user = User(stack, business)
    _connect(user, tenant)
    user.call("PUT", f"/v1/bank-accounts/{account}/feed",
              {"new_account": {"name": f"HKD {name[:20]}", "number": account[-8:]}})
    stack.xero.settle_pending()
    data = user.call("GET", "/v1/expenses/reference-data").json()
    travel = next(a["account_id"] for a in data["accounts"] if a["code"] == "493")
    user.call("PUT", "/v1/expenses/mappings", {"mappings": [{"category": "travel", "xero_account_id": travel}]})
    ids = [ledger.post_transaction(account, f"{10 + n % 400}.{n % 100:02d}", "DEBIT", spend_category="travel",
                                   counterparty=Counterparty(f"Supplier {n % 40}", ""), reference=f"INV-{n}",
                                   description=f"Trip {n}").transaction_id for n in range(expenses)]
    return user, ids


def _pending(user: User) -> int:
    count, cursor = 0, ""
    while True:
        page = user.call("GET", "/v1/expenses?tab=pending&limit=200" + (f"&cursor={cursor}" if cursor else "")).json()
        count += len(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return count


def _wait_until_pending(user: User, count: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        user.stack.drain(timeout=timeout)
        if _pending(user) >= count:
            return
        time.sleep(1)
    raise TimeoutError("the ledger's events did not become expenses")


def _timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _summary(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms"


def _wait_for_job(user: User, job_id: str, timeout: float = 1800) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = user.call("GET", f"/v1/expenses/sync-jobs/{job_id}").json()
        if job["status"] == "COMPLETED":
            return dict(job)
        time.sleep(0.5)
    raise TimeoutError(f"job {job_id} did not complete")


def _tenant_calls(stack: DevStack, tenant: str, since: int) -> list[dict[str, Any]]:
    return [e for e in stack.xero.request_log[since:] if e.get("tenant") == tenant]


def routes(stack: DevStack, users: list[User], tenant: str, ids: dict[str, list[str]]) -> dict[str, Any]:
    user = users[0]
    expense = ids[user.business_id][0]
    job_id = user.call("POST", "/v1/expenses/sync-jobs", {"transaction_ids": [expense]}, expect=202).json()["job_id"]
    _wait_for_job(user, job_id)
    pending = ids[user.business_id][1]
    cases: dict[str, Callable[[], Any]] = {
        "GET /v1/xero/connection": lambda: user.call("GET", "/v1/xero/connection"),
        "GET /v1/xero/bank-accounts": lambda: user.call("GET", "/v1/xero/bank-accounts"),
        "GET /v1/expenses?tab=pending": lambda: user.call("GET", "/v1/expenses?tab=pending&limit=50"),
        "GET /v1/expenses?tab=synced": lambda: user.call("GET", "/v1/expenses?tab=synced&limit=50"),
        "GET /v1/expenses (filter matching nothing)": lambda: user.call(
            "GET", "/v1/expenses?tab=pending&limit=50&posted_from=2001-01-01&posted_to=2001-01-02&has_error=true"),
        "GET /v1/expenses/{id}": lambda: user.call("GET", f"/v1/expenses/{pending}"),
        "PATCH /v1/expenses/{id}": lambda: user.call("PATCH", f"/v1/expenses/{pending}",
                                                     {"description": f"Trip {time.time()}"}),
        "GET /v1/expenses/reference-data": lambda: user.call("GET", "/v1/expenses/reference-data"),
        "GET /v1/expenses/mappings": lambda: user.call("GET", "/v1/expenses/mappings"),
        "GET /v1/expenses/sync-jobs/{id}": lambda: user.call("GET", f"/v1/expenses/sync-jobs/{job_id}"),
        "GET /v1/expenses/{id}/attachments": lambda: user.call("GET", f"/v1/expenses/{expense}/attachments"),
        "GET /v1/health": lambda: user.call("GET", "/v1/health"),
    }
    timings = {}
    for name, case in cases.items():
        case()  # warm
        timings[name] = [_timed(case) for _ in range(SAMPLES)]
    # What reads cost Xero
    since = len(stack.xero.request_log)
    for _ in range(20):
        user.call("GET", "/v1/xero/bank-accounts", expect=None)
    picker_calls = len(_tenant_calls(stack, tenant, since))
    since = len(stack.xero.request_log)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: user.call("GET", "/v1/expenses/reference-data?refresh=true", expect=None),
                      range(8)))
    refresh_calls = len(_tenant_calls(stack, tenant, since))
    return {"timings": timings, "picker_calls_for_20_reads": picker_calls,
            "xero_calls_for_8_concurrent_refreshes": refresh_calls}


def sync_start(stack: DevStack, tenant: str) -> dict[str, Any]:
    """A business of its own (on another organisation, so the shared one is untouched): 1, 100, 1000 and a
    double click of 1000."""
    user, ids = _business(stack, tenant, "Start Timing Pte. Ltd.", 2 * EXPENSES + 101)
    _wait_until_pending(user, len(ids))
    figures: dict[str, Any] = {}
    for label, chosen in (("1", ids[:1]), ("100", ids[1:101]), ("1000", ids[101:101 + EXPENSES])):
        started = time.perf_counter()
        response = user.call("POST", "/v1/expenses/sync-jobs", {"transaction_ids": chosen}, expect=None)
        figures[label] = time.perf_counter() - started
        if response.status_code != 202:  # (API Gateway cuts a request at 30 s: the start did not answer)
            figures[f"{label} answered"] = response.status_code
            continue
        _wait_for_job(user, response.json()["job_id"])
    double = ids[101 + EXPENSES:]
    barrier = threading.Barrier(2)

    def click() -> tuple[float, str]:
        barrier.wait()
        started = time.perf_counter()
        response = user.call("POST", "/v1/expenses/sync-jobs", {"transaction_ids": double}, expect=None)
        return time.perf_counter() - started, response.json().get("job_id", response.text[:80])

    with ThreadPoolExecutor(max_workers=2) as pool:
        clicks = list(pool.map(lambda _: click(), range(2)))
    figures["double click of 1000"] = max(seconds for seconds, _ in clicks)
    figures["double click: one job"] = clicks[0][1] == clicks[1][1]
    for job_id in {j for _, j in clicks if j.startswith("job_")}:
        _wait_for_job(user, job_id)
    return figures


def fairness(stack: DevStack, users: list[User], tenant: str, ids: dict[str, list[str]]) -> dict[str, Any]:
    since = len(stack.xero.request_log)
    started_at = stack.xero.now()
    barrier = threading.Barrier(len(users))

    def run(user: User) -> float:
        chosen = ids[user.business_id][1:]  # (the first business synced its first one while timing the routes)
        barrier.wait()
        job = user.call("POST", "/v1/expenses/sync-jobs", {"transaction_ids": chosen}, expect=202).json()
        done = _wait_for_job(user, job["job_id"])
        assert done["synced"] + done["failed"] == len(chosen), done
        return float(stack.xero.now() - started_at)

    with ThreadPoolExecutor(max_workers=len(users)) as pool:
        finished = list(pool.map(run, users))
    calls = _tenant_calls(stack, tenant, since)
    ended_at = max(started_at + f for f in finished)
    minutes = Counter(int((e["timestamp"] - started_at) // 60) for e in calls if e["timestamp"] <= ended_at)
    whole = [n for m, n in sorted(minutes.items()) if (m + 1) * 60 <= ended_at - started_at]
    limited = sum(1 for e in calls if e["status"] == 429)
    return {"completion_seconds": [round(f, 1) for f in finished],
            "spread": round((max(finished) - min(finished)) / max(finished), 3),
            "calls": len(calls), "calls_per_whole_minute": whole,
            "share_of_60_per_minute": round(statistics.mean(whole) / 60, 3) if whole else None,
            "answered_429": limited, "share_429": round(limited / max(1, len(calls)), 4)}


def main() -> None:
    with DevStack(DevStackConfig(log_level="ERROR", visibility_timeout=2)) as stack:
        xero = stack.xero
        tenant = xero.seed_organisation("Group Books", base_currency="HKD")
        users, ids = [], {}
        for n in range(BUSINESSES):
            user, posted = _business(stack, tenant, f"Group Entity {n + 1} Pte. Ltd.", EXPENSES)
            users.append(user)
            ids[user.business_id] = posted
        for user in users:
            _wait_until_pending(user, EXPENSES)
        measured = routes(stack, users, tenant, ids)
        print(f"Routes ({SAMPLES} calls each, {BUSINESSES} businesses x {EXPENSES} expenses on one organisation):")
        for name, seconds in measured["timings"].items():
            print(f"  {name:<46} {_summary(seconds)}")
        print(f"  20 reads of the Xero bank accounts: {measured['picker_calls_for_20_reads']} Xero calls")
        refreshes = measured["xero_calls_for_8_concurrent_refreshes"]
        print(f"  8 concurrent reference-data refreshes: {refreshes} Xero calls")
        start = sync_start(stack, xero.seed_organisation("Timing Books", base_currency="HKD"))
        print("Sync start (time to the 202):")
        for label in ("1", "100", "1000", "double click of 1000"):
            answered = start.get(f"{label} answered")
            print(f"  {label:<22} {start[label] * 1000:8.1f} ms" + (f"  (answered {answered})" if answered else ""))
        print(f"  double click made one job: {start['double click: one job']}")
        fair = fairness(stack, users, tenant, ids)
        print(f"Three businesses syncing {EXPENSES - 1} expenses each on one organisation:")
        print(f"  completion (s, emulator clock): {fair['completion_seconds']}  spread {fair['spread']:.1%}")
        print(f"  Xero calls: {fair['calls']}; per whole minute {fair['calls_per_whole_minute']} "
              f"(share of 60: {fair['share_of_60_per_minute']}); 429s: {fair['answered_429']} "
              f"({fair['share_429']:.2%})")
        print(json.dumps({"routes": {k: [round(s, 4) for s in v] for k, v in measured["timings"].items()},
                          **{k: v for k, v in measured.items() if k != "timings"}, "sync_start": start,
                          "fairness": fair}))


if __name__ == "__main__":
    main()
