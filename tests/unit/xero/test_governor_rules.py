"""The governor's budget rules, on an in-memory store and a manual clock."""

from __future__ import annotations

import pytest

from emulators.time_control import ManualClock
from xerosync import deadline
from xerosync.xero.errors import XeroRateLimited
from xerosync.xero.governor import FEEDS, Limits, MemoryGovernorStore, TenantRateGovernor


def _governor(**limits: float) -> tuple[TenantRateGovernor, ManualClock, MemoryGovernorStore]:
    clock = ManualClock(start=1_800_000_000)
    store = MemoryGovernorStore()
    return TenantRateGovernor(store, Limits(**limits), clock), clock, store  # type: ignore[arg-type]


def test_the_sixty_first_call_in_a_minute_waits_for_the_first_to_age_out() -> None:
    governor, clock, _ = _governor(max_wait_seconds=0)
    for _ in range(60):
        governor.release("t", governor.acquire("t"), None)
        clock.advance(0.5)
    with pytest.raises(XeroRateLimited) as limited:
        governor.acquire("t")
    assert limited.value.problem == "minute"
    assert 29 <= limited.value.retry_after <= 31  # the first call was 30 s ago
    clock.advance(limited.value.retry_after)
    assert governor.acquire("t")


def test_five_in_flight_is_the_most_and_a_crashed_lease_frees_itself() -> None:
    governor, clock, _ = _governor(max_wait_seconds=0, lease_seconds=60)
    leases = [governor.acquire("t") for _ in range(5)]
    with pytest.raises(XeroRateLimited) as limited:
        governor.acquire("t")
    assert limited.value.problem == "concurrent"
    governor.release("t", leases[0], None)
    leases.append(governor.acquire("t"))
    clock.advance(61)  # the other holders crashed without releasing
    assert governor.acquire("t")


def test_part_of_the_day_is_reserved_for_bank_feed_statements() -> None:
    governor, clock, _ = _governor(max_wait_seconds=0, per_day=100, feeds_reserved_per_day=20, per_minute=1000)
    for _ in range(80):
        governor.release("t", governor.acquire("t", "general"), None)
        clock.advance(1)
    with pytest.raises(XeroRateLimited) as limited:
        governor.acquire("t", "general")
    assert limited.value.problem == "day" and limited.value.retry_after > 3600 * 22
    for _ in range(20):  # statements still flow
        governor.release("t", governor.acquire("t", FEEDS), None)
    with pytest.raises(XeroRateLimited):
        governor.acquire("t", FEEDS)


def test_xeros_remaining_counts_override_a_lower_local_count() -> None:
    # Calls this governor did not see (another deployment, a lost release) show in Xero's headers.
    governor, _, _ = _governor(max_wait_seconds=0)
    lease = governor.acquire("t")
    governor.release("t", lease, {"X-MinLimit-Remaining": "0", "X-DayLimit-Remaining": "4000"})
    with pytest.raises(XeroRateLimited) as limited:
        governor.acquire("t")
    assert limited.value.problem == "minute"


def test_a_429_blocks_the_tenant_for_retry_after() -> None:
    governor, clock, _ = _governor(max_wait_seconds=0)
    governor.throttled("t", 45, "minute")
    with pytest.raises(XeroRateLimited) as limited:
        governor.acquire("t")
    assert limited.value.retry_after == 45
    assert governor.acquire("other-tenant")  # another organisation is not held back
    clock.advance(45.001)
    assert governor.acquire("t")


def test_the_app_wide_minute_is_shared_by_all_tenants() -> None:
    governor, _, _ = _governor(max_wait_seconds=0, app_per_minute=3)
    for tenant in ("a", "b", "c"):
        governor.acquire(tenant)
    with pytest.raises(XeroRateLimited) as limited:
        governor.acquire("d")
    assert limited.value.problem == "appminute"


def test_a_short_wait_is_slept_not_refused() -> None:
    governor, clock, _ = _governor(max_wait_seconds=5)
    governor.throttled("t", 3, "minute")
    started = clock.time()
    assert governor.acquire("t")
    assert clock.time() - started >= 3


def test_an_http_request_waits_for_a_slot_only_while_its_own_time_lasts() -> None:
    governor, clock, _ = _governor(max_wait_seconds=5)
    governor.throttled("t", 3, "minute")
    # A request with 4 s left: waiting 3 s would leave less than a Xero call needs, so it is refused at once
    with deadline.answer_within(4 + deadline.ANSWER_SECONDS, clock), pytest.raises(XeroRateLimited) as refused:
        governor.acquire("t")
    assert refused.value.retry_after == 3 and clock.time() == 1_800_000_000
    # With 6 s left it waits, as a queue consumer does
    with deadline.answer_within(6 + deadline.ANSWER_SECONDS, clock):
        assert governor.acquire("t")
    assert clock.time() - 1_800_000_000 >= 3


def _spend(governor: TenantRateGovernor, business: str, calls: int, purpose: str = "general") -> None:
    for _ in range(calls):
        governor.release("t", governor.acquire("t", purpose, business), None)


def test_a_business_alone_may_use_the_whole_minute() -> None:
    governor, _, _ = _governor(max_wait_seconds=0)
    _spend(governor, "biz_a", 60)
    with pytest.raises(XeroRateLimited) as limited:
        governor.acquire("t", "general", "biz_a")
    assert limited.value.problem == "minute"


def test_a_sibling_arriving_mid_minute_finds_its_share_and_the_heavy_one_waits_for_it() -> None:
    # Given one business that used 50 of the minute's 60 calls
    governor, clock, _ = _governor(max_wait_seconds=0)
    _spend(governor, "biz_a", 50)
    clock.advance(1)
    # When a sibling on the same organisation starts calling, it gets slots while the heavy one is held back
    _spend(governor, "biz_b", 1)
    with pytest.raises(XeroRateLimited) as limited:  # a's share is 30, and the 9 left must cover b's share
        governor.acquire("t", "general", "biz_a")
    assert limited.value.problem == "minute-share"
    _spend(governor, "biz_b", 9)  # b takes what is left of the minute
    with pytest.raises(XeroRateLimited) as full:
        governor.acquire("t", "general", "biz_b")
    assert full.value.problem == "minute"


def test_three_businesses_calling_together_get_a_third_of_the_minute_each() -> None:
    governor, clock, _ = _governor(max_wait_seconds=0)
    taken = {"biz_a": 0, "biz_b": 0, "biz_c": 0}
    for _ in range(40):  # each asks in turn, as three Lambdas would; a refused one is known to be waiting
        for business in taken:
            try:
                governor.release("t", governor.acquire("t", "general", business), None)
                taken[business] += 1
            except XeroRateLimited:
                pass
        clock.advance(0.2)
    assert sum(taken.values()) == 60 and set(taken.values()) == {20}


def test_a_waiting_business_keeps_its_share_of_the_day_and_the_heavy_one_stops_at_its_own() -> None:
    governor, clock, _ = _governor(max_wait_seconds=0, per_day=120, feeds_reserved_per_day=20, per_minute=1000)
    _spend(governor, "biz_a", 60)  # alone for a while: beyond a half share of the general 100
    clock.advance(60)
    _spend(governor, "biz_b", 1)  # a sibling arrives
    _spend(governor, "biz_a", 0)
    with pytest.raises(XeroRateLimited) as limited:
        governor.acquire("t", "general", "biz_a")
    assert limited.value.problem == "day-share"
    _spend(governor, "biz_b", 39)  # the sibling may use what is left of the day
    with pytest.raises(XeroRateLimited) as spent:
        governor.acquire("t", "general", "biz_b")
    assert spent.value.problem == "day"


def test_calls_for_a_users_request_are_capped_per_business() -> None:
    governor, clock, _ = _governor(max_wait_seconds=0, interactive_per_minute=15, interactive_per_day=40)
    _spend(governor, "biz_a", 15, "interactive")
    with pytest.raises(XeroRateLimited) as limited:
        governor.acquire("t", "interactive", "biz_a")
    assert limited.value.problem == "business-minute" and 59 <= limited.value.retry_after <= 61
    _spend(governor, "biz_a", 5)  # its background work is not capped
    _spend(governor, "biz_b", 15, "interactive")  # nor are its siblings' requests
    for _ in range(2):
        clock.advance(61)
        _spend(governor, "biz_a", 15 if _ == 0 else 10, "interactive")
    with pytest.raises(XeroRateLimited) as day:
        governor.acquire("t", "interactive", "biz_a")
    assert day.value.problem == "business-day"
