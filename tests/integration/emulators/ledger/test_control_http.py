"""The control surface over HTTP (/_ledger/...), as a test or the local stack in another process uses it."""

from __future__ import annotations

import base64
import hashlib
import time

import pytest

from emulators.ledger import LedgerEmulator, RecordingPublisher
from tests.integration.emulators.ledger.ledger_http import LedgerHttp


@pytest.fixture
def account_id(http: LedgerHttp) -> str:
    business = http.post(
        "/_ledger/businesses", {"incorporation_country": "SG", "legal_name": "Merlion Robotics Pte. Ltd."}
    )
    assert business.status_code == 201, business.text
    business_id = business.json()["business_id"]
    account = http.post(f"/_ledger/businesses/{business_id}/accounts", {"currency": "SGD", "name": "SGD Operating"})
    assert account.status_code == 201, account.text
    assert http.get(f"/v1/businesses/{business_id}").json()["legal_name"] == "Merlion Robotics Pte. Ltd."
    return str(account.json()["account_id"])


def test_given_control_calls_when_creating_a_business_and_account_then_the_contract_api_serves_them(
    http: LedgerHttp, account_id: str
) -> None:
    account = http.get(f"/v1/accounts/{account_id}").json()

    assert account["currency"] == "SGD"
    assert account["name"] == "SGD Operating"
    assert account["status"] == "ACTIVE"
    listed = http.get("/_ledger/businesses").json()["businesses"]
    assert [a["account_id"] for a in listed[0]["accounts"]] == [account_id]


def test_given_explicit_fields_when_posting_over_http_then_the_transaction_has_them_and_an_event_is_emitted(
    http: LedgerHttp, publisher: RecordingPublisher, account_id: str
) -> None:
    content = b"%PDF-1.4\n% tiny\n%%EOF\n"
    http.post(f"/_ledger/accounts/{account_id}/transactions", {"amount": "2500.00", "direction": "CREDIT"})

    response = http.post(
        f"/_ledger/accounts/{account_id}/transactions",
        {
            "amount": "99.90",
            "direction": "DEBIT",
            "type": "CARD",
            "counterparty": {"name": "Grab", "account_number": ""},
            "reference": "CARD *4821",
            "description": "Taxi to client",
            "spend_category": "travel",
            "posted_at": "2026-11-20T09:30:00Z",
            "attachments": [
                {
                    "file_name": "taxi.pdf",
                    "content_type": "application/pdf",
                    "content_base64": base64.b64encode(content).decode(),
                },
                {"kind": "jpeg", "size_bytes": 20_000, "seed": 4},
            ],
        },
    )

    assert response.status_code == 201, response.text
    txn = response.json()
    assert (txn["sequence"], txn["amount"], txn["running_balance"]) == (2, "99.90", "2400.10")
    assert txn["posted_at"] == "2026-11-20T09:30:00Z"
    assert txn["attachments"][0]["sha256"] == hashlib.sha256(content).hexdigest()
    assert txn["attachments"][1]["content_type"] == "image/jpeg"
    assert txn["attachments"][1]["size_bytes"] == 20_000
    served = http.get(
        f"/v1/accounts/{account_id}/transactions/{txn['transaction_id']}/attachments/{txn['attachments'][0]['attachment_id']}"
    )
    assert served.content == content
    assert [d["sequence"] for d in publisher.details("TransactionPosted")] == [1, 2]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"amount": 12.5, "direction": "CREDIT"}, "amount"),  # a float is not money
        ({"amount": "1.005", "direction": "CREDIT"}, "decimals"),
        ({"amount": "-3", "direction": "CREDIT"}, "positive"),
        ({"amount": "3", "direction": "SIDEWAYS"}, "direction"),
        ({"amount": "3", "direction": "CREDIT", "type": "GIFT"}, "type"),
        ({"amount": "3", "direction": "CREDIT", "spend_category": "travel"}, "credit"),
        ({"amount": "3", "direction": "CREDIT", "unknown": 1}, "unknown"),
        ({"amount": "3", "direction": "CREDIT", "attachments": [{"kind": "pdf"}]}, "size_bytes"),
        ({"amount": "3", "direction": "CREDIT", "posted_at": "2026-11-20 09:00"}, "zone"),
    ],
)
def test_given_an_invalid_posting_when_sent_then_400_and_nothing_is_posted(
    ledger: LedgerEmulator, http: LedgerHttp, account_id: str, body: dict[str, object], fragment: str
) -> None:
    response = http.post(f"/_ledger/accounts/{account_id}/transactions", body)

    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert fragment in response.json()["error"]["message"].lower()
    assert ledger.list_transactions(account_id).transactions == ()


def test_given_a_posted_at_before_the_last_posting_when_sent_then_refused_because_postings_never_reorder(
    http: LedgerHttp, account_id: str
) -> None:
    http.post(f"/_ledger/accounts/{account_id}/transactions", {"amount": "1", "direction": "CREDIT"})

    response = http.post(
        f"/_ledger/accounts/{account_id}/transactions",
        {"amount": "1", "direction": "CREDIT", "posted_at": "2026-11-19T00:00:00Z"},
    )

    assert response.status_code == 400


def test_given_a_closed_account_when_posting_then_400_account_closed(http: LedgerHttp, account_id: str) -> None:
    closed = http.patch(f"/_ledger/accounts/{account_id}", {"status": "CLOSED"})

    response = http.post(f"/_ledger/accounts/{account_id}/transactions", {"amount": "1", "direction": "CREDIT"})

    assert closed.json()["status"] == "CLOSED"
    assert http.get(f"/v1/accounts/{account_id}").json()["status"] == "CLOSED"
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "account_closed"


def test_given_generate_when_called_then_n_postings_are_made_now_with_running_balances(
    http: LedgerHttp, account_id: str
) -> None:
    response = http.post(f"/_ledger/accounts/{account_id}/transactions/generate", {"count": 25, "seed": 3})

    assert response.status_code == 201
    posted = response.json()["transactions"]
    assert [t["sequence"] for t in posted] == list(range(1, 26))
    assert posted[0]["direction"] == "CREDIT"  # an empty account is funded first
    state = http.get(f"/_ledger/accounts/{account_id}").json()
    assert state["transaction_count"] == 25
    assert state["balance"] == posted[-1]["running_balance"]


def test_given_patch_when_changing_category_and_description_then_one_version_bump(
    http: LedgerHttp, publisher: RecordingPublisher, account_id: str
) -> None:
    http.post(f"/_ledger/accounts/{account_id}/transactions", {"amount": "100", "direction": "CREDIT"})
    txn = http.post(
        f"/_ledger/accounts/{account_id}/transactions", {"amount": "5", "direction": "DEBIT", "spend_category": "other"}
    ).json()
    path = f"/_ledger/accounts/{account_id}/transactions/{txn['transaction_id']}"

    patched = http.patch(path, {"spend_category": "software", "description": "Figma seats"})
    uncategorised = http.patch(path, {"spend_category": None})
    untouched = http.patch(path, {"description": "Figma seats"})

    assert patched.json()["version"] == 2
    assert patched.json()["spend_category"] == "software"
    assert uncategorised.json()["version"] == 3
    assert uncategorised.json()["spend_category"] is None
    assert untouched.json()["version"] == 3
    assert [d["changed"] for d in publisher.details("TransactionUpdated")] == [
        ["spend_category", "description"],
        ["spend_category"],
    ]
    assert http.patch(path, {"description": None}).status_code == 400


def test_given_attachment_endpoints_when_adding_replacing_and_removing_then_each_bumps_the_version(
    http: LedgerHttp, publisher: RecordingPublisher, account_id: str
) -> None:
    http.post(f"/_ledger/accounts/{account_id}/transactions", {"amount": "100", "direction": "CREDIT"})
    txn = http.post(
        f"/_ledger/accounts/{account_id}/transactions", {"amount": "5", "direction": "DEBIT", "spend_category": "other"}
    ).json()
    base = f"/_ledger/accounts/{account_id}/transactions/{txn['transaction_id']}/attachments"

    added = http.post(base, {"kind": "pdf", "size_bytes": 4_000, "file_name": "a.pdf"})
    first_id = added.json()["attachments"][0]["attachment_id"]
    replaced = http.put(f"{base}/{first_id}", {"kind": "png", "size_bytes": 3_000, "file_name": "a.png"})
    second_id = replaced.json()["attachments"][0]["attachment_id"]
    removed = http.delete(f"{base}/{second_id}")
    missing = http.delete(f"{base}/{second_id}")

    assert added.status_code == 201
    assert added.json()["version"] == 2
    assert replaced.json()["version"] == 3
    assert second_id != first_id
    assert replaced.json()["attachments"][0]["file_name"] == "a.png"
    assert removed.json()["version"] == 4
    assert removed.json()["attachments"] == []
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "attachment_not_found"
    assert [d["version"] for d in publisher.details("TransactionUpdated")] == [2, 3, 4]


def test_given_seed_and_reset_over_http_when_called_then_the_ledger_fills_and_empties(
    ledger: LedgerEmulator, http: LedgerHttp
) -> None:
    seeded = http.post(
        "/_ledger/seed", {"seed": 4, "businesses": 2, "transactions_per_account": 40, "end_at": "2026-11-20T00:00:00Z"}
    )

    assert seeded.status_code == 201, seeded.text
    summary = seeded.json()
    assert [b["incorporation_country"] for b in summary["businesses"]] == ["HK", "SG"]
    assert summary["transactions"] == 6 * 40 + 2
    first = summary["businesses"][0]["accounts"][0]["account_id"]
    assert (
        http.get(f"/v1/accounts/{first}/transactions", params={"limit": 500}).json()["transactions"][-1]["posted_at"]
        <= "2026-11-20T00:00:00Z"
    )
    assert summary["special"]["executable_disguised_as_pdf"]["attachment_id"].startswith("att_")

    assert http.post("/_ledger/reset").json() == {"reset": True}
    assert http.get(f"/v1/accounts/{first}").status_code == 404
    assert ledger.list_businesses() == []


def test_given_faults_over_http_when_armed_and_cleared_then_the_contract_api_fails_only_while_armed(
    http: LedgerHttp, account_id: str
) -> None:
    armed = http.post("/_ledger/faults", {"status": 500, "count": 2})

    first = http.get(f"/v1/accounts/{account_id}")
    control_unaffected = http.get(f"/_ledger/accounts/{account_id}")
    http.delete("/_ledger/faults")
    after_clear = http.get(f"/v1/accounts/{account_id}")

    assert armed.status_code == 201
    assert armed.json()["faults"][0]["remaining"] == 2
    assert first.status_code == 500
    assert first.json()["error"]["code"] == "internal_error"
    assert control_unaffected.status_code == 200
    assert after_clear.status_code == 200


def test_given_a_fault_with_a_probability_then_about_that_share_fails_the_same_way_per_seed_and_is_counted(
    http: LedgerHttp, ledger: LedgerEmulator, account_id: str
) -> None:
    def run(seed: int) -> list[int]:
        ledger.faults.clear()
        http.post("/_ledger/faults", {"status": 503, "count": None, "probability": 0.25, "seed": seed})
        return [http.get(f"/v1/accounts/{account_id}/transactions", params={"limit": n}).status_code
                for n in range(1, 101)]

    first = run(3)
    assert set(first) == {200, 503} and 10 <= first.count(503) <= 40
    listed = http.get("/_ledger/faults").json()
    assert listed["fired"] == first.count(503) and listed["faults"][0]["fired"] == first.count(503)
    assert run(3) == first and run(4) != first


def test_given_a_slow_page_fault_then_the_answer_comes_late_but_right(
    http: LedgerHttp, ledger: LedgerEmulator, account_id: str
) -> None:
    http.post("/_ledger/faults", {"slow_s": 0.3, "count": 1, "path_contains": "/transactions"})
    started = time.monotonic()
    slow = http.get(f"/v1/accounts/{account_id}/transactions")
    assert slow.status_code == 200 and time.monotonic() - started >= 0.3
    assert http.get("/_ledger/faults").json()["fired"] == 1


def test_given_event_faults_then_events_are_lost_duplicated_or_delayed_and_counted(
    http: LedgerHttp, ledger: LedgerEmulator, publisher: RecordingPublisher, account_id: str
) -> None:
    http.put("/_ledger/event-faults", {"lose": 0.2, "duplicate": 0.2, "delay": 0.2, "seed": 5})
    for n in range(60):
        http.post(f"/_ledger/accounts/{account_id}/transactions", {"amount": f"{n + 1}.00", "direction": "CREDIT"})
    counts = http.get("/_ledger/event-faults").json()["counts"]
    assert all(5 <= counts[kind] <= 25 for kind in ("lost", "duplicated", "delayed")), counts
    released = http.post("/_ledger/event-faults/release").json()["released"]
    sequences = [d["sequence"] for d in publisher.details("TransactionPosted")]
    # Every event not lost arrives (the duplicated ones twice), and the delayed ones after later ones
    assert len(sequences) == 60 - counts["lost"] + counts["duplicated"]
    assert len(set(sequences)) == 60 - counts["lost"]
    assert sequences != sorted(sequences) and released <= counts["delayed"]


def test_given_a_body_that_is_not_a_json_object_when_sent_then_400(http: LedgerHttp) -> None:
    not_json = http.session.post(http.base_url + "/_ledger/businesses", data=b"{nope", timeout=5)
    a_list = http.post("/_ledger/businesses", [1, 2])

    assert not_json.status_code == 400
    assert a_list.status_code == 400
