"""Paging of GET /v1/accounts/{id}/transactions: after_sequence, limit, posted_from, has_more, next_after_sequence."""

from __future__ import annotations

import pytest

from emulators.ledger import LedgerEmulator
from emulators.time_control import ManualClock
from tests.integration.emulators.ledger.ledger_http import LedgerHttp

DAY = 86_400


@pytest.fixture
def account_of_ten(ledger: LedgerEmulator, clock: ManualClock) -> str:
    """Ten credits of 1.00 to 10.00, one per day from 2026-11-20 08:15Z (sequence n on day n-1)."""
    business = ledger.create_business("SG")
    account = ledger.create_account(business.business_id, "SGD")
    for n in range(1, 11):
        ledger.post_transaction(account.account_id, f"{n}.00", "CREDIT")
        clock.advance(DAY)
    return account.account_id


def _page(http: LedgerHttp, account_id: str, **params: object) -> dict[str, object]:
    response = http.get(f"/v1/accounts/{account_id}/transactions", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _sequences(page: dict[str, object]) -> list[int]:
    transactions = page["transactions"]
    assert isinstance(transactions, list)
    return [t["sequence"] for t in transactions]


def test_given_no_parameters_when_listing_then_from_sequence_1_ascending_up_to_100(
    ledger: LedgerEmulator, http: LedgerHttp
) -> None:
    # Given 120 postings
    account = ledger.add_sample_account("HKD", incorporation_country="HK", transactions=120, seed=1)

    page = _page(http, account.account_id)

    assert _sequences(page) == list(range(1, 101))
    assert page["has_more"] is True
    assert page["next_after_sequence"] == 100


def test_given_next_after_sequence_when_passed_back_then_pages_cover_everything_once(
    http: LedgerHttp, account_of_ten: str
) -> None:
    seen: list[int] = []
    after = 0
    pages = 0
    while True:
        page = _page(http, account_of_ten, after_sequence=after, limit=3)
        seen.extend(_sequences(page))
        pages += 1
        if not page["has_more"]:
            break
        after = page["next_after_sequence"]  # type: ignore[assignment]

    assert seen == list(range(1, 11))
    assert pages == 4  # 3 + 3 + 3 + 1


def test_given_the_last_page_is_exactly_full_when_listed_then_has_more_is_false(
    http: LedgerHttp, account_of_ten: str
) -> None:
    page = _page(http, account_of_ten, after_sequence=5, limit=5)

    assert _sequences(page) == [6, 7, 8, 9, 10]
    assert page["has_more"] is False
    assert page["next_after_sequence"] == 10


def test_given_after_sequence_at_or_past_the_end_when_listed_then_empty_with_null_cursor(
    http: LedgerHttp, account_of_ten: str
) -> None:
    at_end = _page(http, account_of_ten, after_sequence=10)
    past_end = _page(http, account_of_ten, after_sequence=10_000_000)

    for page in (at_end, past_end):
        assert page == {"transactions": [], "has_more": False, "next_after_sequence": None}


def test_given_an_account_with_no_postings_when_listed_then_empty_with_null_cursor(
    ledger: LedgerEmulator, http: LedgerHttp
) -> None:
    account = ledger.add_sample_account()

    assert _page(http, account.account_id) == {"transactions": [], "has_more": False, "next_after_sequence": None}


@pytest.mark.parametrize("limit", [1, 500])
def test_given_limit_at_its_bounds_when_listed_then_accepted(
    ledger: LedgerEmulator, http: LedgerHttp, limit: int
) -> None:
    account = ledger.add_sample_account(transactions=501, seed=2)

    page = _page(http, account.account_id, limit=limit)

    assert len(_sequences(page)) == limit
    assert page["has_more"] is True


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 501},
        {"limit": -1},
        {"limit": "ten"},
        {"limit": ""},
        {"limit": "1.5"},
        {"after_sequence": -1},
        {"after_sequence": "abc"},
        {"posted_from": "2026-13-01"},
        {"posted_from": "20261120"},
        {"posted_from": "yesterday"},
    ],
)
def test_given_a_bad_parameter_when_listed_then_400_invalid_request(
    http: LedgerHttp, account_of_ten: str, params: dict[str, object]
) -> None:
    response = http.get(f"/v1/accounts/{account_of_ten}/transactions", params=params)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_given_posted_from_a_date_when_listed_then_earlier_postings_are_skipped(
    http: LedgerHttp, account_of_ten: str
) -> None:
    # Sequence 4 was posted on 2026-11-23 at 08:15Z; the date includes the whole day from 00:00Z.
    page = _page(http, account_of_ten, posted_from="2026-11-23")

    assert _sequences(page) == [4, 5, 6, 7, 8, 9, 10]
    assert page["transactions"][0]["posted_at"] == "2026-11-23T08:15:00Z"  # type: ignore[index]


def test_given_posted_from_and_after_sequence_when_listed_then_both_filters_apply(
    http: LedgerHttp, account_of_ten: str
) -> None:
    later_cursor = _page(http, account_of_ten, posted_from="2026-11-23", after_sequence=6, limit=2)
    earlier_cursor = _page(http, account_of_ten, posted_from="2026-11-28", after_sequence=2, limit=2)

    assert _sequences(later_cursor) == [7, 8]
    assert later_cursor["has_more"] is True
    assert _sequences(earlier_cursor) == [9, 10]
    assert earlier_cursor["has_more"] is False


def test_given_posted_from_after_the_last_posting_when_listed_then_empty(http: LedgerHttp, account_of_ten: str) -> None:
    page = _page(http, account_of_ten, posted_from="2027-01-01")

    assert page == {"transactions": [], "has_more": False, "next_after_sequence": None}


def test_given_postings_arrive_between_pages_when_paging_on_then_the_cursor_picks_them_up(
    ledger: LedgerEmulator, http: LedgerHttp, account_of_ten: str
) -> None:
    # Given a caller that has read everything
    first = _page(http, account_of_ten, limit=500)
    assert first["has_more"] is False

    # When two more postings arrive and the caller resumes from its cursor
    ledger.post_generated(account_of_ten, 2, seed=5)
    resumed = _page(http, account_of_ten, after_sequence=first["next_after_sequence"])

    # Then it gets exactly the new ones
    assert _sequences(resumed) == [11, 12]
