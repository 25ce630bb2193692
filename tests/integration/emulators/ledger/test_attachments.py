"""Attachment bytes over HTTP: real files of their claimed type, exact sizes and hashes, HEAD, the special
receipts of a seeded ledger."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from emulators.ledger import (
    RECEIPT_KINDS,
    LedgerEmulator,
    LedgerError,
    SeedSummary,
    Transaction,
    generated_spec,
    min_size,
)
from tests.integration.emulators.ledger.ledger_http import LedgerHttp
from tests.integration.emulators.ledger.receipt_checks import check_jpeg, check_pdf, check_png, sniff

Seeded = tuple[LedgerEmulator, SeedSummary, LedgerHttp]


def _url(account_id: str, transaction_id: str, attachment_id: str) -> str:
    return f"/v1/accounts/{account_id}/transactions/{transaction_id}/attachments/{attachment_id}"


@pytest.fixture
def with_every_kind(ledger: LedgerEmulator) -> Transaction:
    """A debit carrying one receipt of every kind, at awkward sizes (just over a chunk, prime, minimal)."""
    account = ledger.add_sample_account()
    ledger.post_transaction(account.account_id, "900.00", "CREDIT")
    sizes = {"pdf": 65_537, "png": 70_001, "jpeg": 131_075, "heic": 4_099, "txt": 1_021, "csv": 2_003, "exe": 4_096}
    receipts = [generated_spec(kind, size, seed=i) for i, (kind, size) in enumerate(sizes.items())]
    receipts.append(generated_spec("empty", 0, seed=99))
    return ledger.post_transaction(account.account_id, "10.00", "DEBIT", spend_category="other", attachments=receipts)


def _fetch(http: LedgerHttp, txn: Transaction, attachment: dict[str, Any]) -> bytes:
    response = http.get(_url(txn.account_id, txn.transaction_id, attachment["attachment_id"]))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == attachment["content_type"]
    assert int(response.headers["Content-Length"]) == attachment["size_bytes"]
    return response.content


def test_given_every_kind_when_downloaded_then_size_sha256_and_magic_bytes_match_the_metadata(
    http: LedgerHttp, with_every_kind: Transaction
) -> None:
    body = http.get(f"/v1/accounts/{with_every_kind.account_id}/transactions/{with_every_kind.transaction_id}").json()
    expected_sniff = {
        "application/pdf": "pdf",
        "image/png": "png",
        "image/jpeg": "jpeg",
        "image/heic": "heic",
        "text/plain": "txt",
        "text/csv": "csv",
    }
    seen = []
    for attachment in body["attachments"]:
        data = _fetch(http, with_every_kind, attachment)

        assert len(data) == attachment["size_bytes"]
        assert hashlib.sha256(data).hexdigest() == attachment["sha256"]
        kind = sniff(data)
        seen.append(kind)
        if kind not in ("executable", "empty"):
            assert kind == expected_sniff[attachment["content_type"]]

    assert seen == ["pdf", "png", "jpeg", "heic", "txt", "csv", "executable", "empty"]


def test_given_pdf_png_and_jpeg_receipts_then_their_internal_structure_is_valid(
    http: LedgerHttp, with_every_kind: Transaction
) -> None:
    attachments = [a.to_json() for a in with_every_kind.attachments]

    check_pdf(_fetch(http, with_every_kind, attachments[0]))
    assert check_png(_fetch(http, with_every_kind, attachments[1]))[:2] == [b"IHDR", b"IDAT"]
    assert 0xFE in check_jpeg(_fetch(http, with_every_kind, attachments[2]))  # padding in COM segments


def test_given_an_attachment_when_head_is_asked_then_headers_alone_with_the_exact_length(
    http: LedgerHttp, with_every_kind: Transaction
) -> None:
    jpeg = with_every_kind.attachments[2]

    response = http.head(_url(with_every_kind.account_id, with_every_kind.transaction_id, jpeg.attachment_id))

    assert response.status_code == 200
    assert response.headers["Content-Length"] == "131075"
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.content == b""


def test_given_unknown_attachment_when_get_or_head_then_404_attachment_not_found(
    http: LedgerHttp, with_every_kind: Transaction
) -> None:
    url = _url(with_every_kind.account_id, with_every_kind.transaction_id, "att_nope")

    got = http.get(url)
    headed = http.head(url)

    assert got.status_code == 404
    assert got.json()["error"]["code"] == "attachment_not_found"
    assert headed.status_code == 404


@pytest.mark.parametrize("kind", [k for k in RECEIPT_KINDS if k != "empty"])
def test_given_any_size_from_the_minimum_when_generated_then_bytes_are_exactly_that_long(kind: str) -> None:
    smallest = min_size(kind, "label", 7)
    for size in (smallest, smallest + 1, smallest + 3, 65_533, 65_537 + 4, 2 * 65_537 + 1):
        if size < smallest:
            continue
        spec = generated_spec(kind, size, seed=7, label="label")
        data = spec.source.read()
        assert len(data) == size
        assert spec.source.sha256() == hashlib.sha256(data).hexdigest()
        if kind == "pdf":
            check_pdf(data)
        elif kind == "png":
            check_png(data)
        elif kind == "jpeg":
            check_jpeg(data)


def test_given_a_size_below_the_format_minimum_when_generated_then_refused() -> None:
    with pytest.raises(LedgerError, match="at least"):
        generated_spec("pdf", 100)
    with pytest.raises(LedgerError, match="size 0"):
        generated_spec("empty", 5)


def test_given_a_receipt_over_3mb_when_downloaded_then_streamed_in_full_with_a_matching_hash(
    seeded: Seeded,
) -> None:
    _, summary, http = seeded
    ref = summary.special["over_3mb"]
    assert ref.attachment_id is not None

    with http.session.get(
        http.base_url + _url(ref.account_id, ref.transaction_id, ref.attachment_id), stream=True, timeout=30
    ) as response:
        digest, total, chunks = hashlib.sha256(), 0, 0
        for chunk in response.iter_content(chunk_size=256 * 1024):
            digest.update(chunk)
            total += len(chunk)
            chunks += 1
        length = int(response.headers["Content-Length"])

    txn = http.get(f"/v1/accounts/{ref.account_id}/transactions/{ref.transaction_id}").json()
    meta = next(a for a in txn["attachments"] if a["attachment_id"] == ref.attachment_id)
    assert total == length == meta["size_bytes"] == 4_500_000
    assert digest.hexdigest() == meta["sha256"]
    assert chunks > 1


def test_given_the_disguised_executable_when_downloaded_then_it_claims_pdf_but_is_an_executable(
    seeded: Seeded,
) -> None:
    _, summary, http = seeded
    ref = summary.special["executable_disguised_as_pdf"]
    assert ref.attachment_id is not None

    response = http.get(_url(ref.account_id, ref.transaction_id, ref.attachment_id))

    assert response.headers["Content-Type"] == "application/pdf"
    assert response.content[:2] == b"MZ"
    assert sniff(response.content) == "executable"
    txn = http.get(f"/v1/accounts/{ref.account_id}/transactions/{ref.transaction_id}").json()
    assert txn["attachments"][0]["file_name"].endswith(".pdf")
    assert txn["direction"] == "DEBIT"
    assert txn["spend_category"] is not None


def test_given_the_empty_file_when_downloaded_then_zero_bytes_with_the_empty_hash(seeded: Seeded) -> None:
    _, summary, http = seeded
    ref = summary.special["empty_file"]
    assert ref.attachment_id is not None

    response = http.get(_url(ref.account_id, ref.transaction_id, ref.attachment_id))
    meta = http.get(f"/v1/accounts/{ref.account_id}/transactions/{ref.transaction_id}").json()["attachments"][0]

    assert response.status_code == 200
    assert response.headers["Content-Length"] == "0"
    assert response.content == b""
    assert meta["size_bytes"] == 0
    assert meta["sha256"] == hashlib.sha256(b"").hexdigest()


def test_given_the_path_in_a_file_name_when_listed_then_the_name_is_served_verbatim(seeded: Seeded) -> None:
    _, summary, http = seeded
    ref = summary.special["path_in_file_name"]
    assert ref.attachment_id is not None

    meta = http.get(f"/v1/accounts/{ref.account_id}/transactions/{ref.transaction_id}").json()["attachments"][0]
    data = http.get(_url(ref.account_id, ref.transaction_id, ref.attachment_id)).content

    assert meta["file_name"] == "../../etc/passwd.pdf"
    check_pdf(data)


def test_given_the_receipt_count_specials_then_they_sit_on_both_sides_of_xeros_limit_of_10(seeded: Seeded) -> None:
    _, summary, http = seeded

    def count(name: str) -> int:
        ref = summary.special[name]
        return len(http.get(f"/v1/accounts/{ref.account_id}/transactions/{ref.transaction_id}").json()["attachments"])

    assert count("more_than_10_receipts") == 12
    assert count("exactly_10_receipts") == 10


def test_given_the_3mib_boundary_special_then_one_receipt_is_a_byte_under_and_one_exactly_at(seeded: Seeded) -> None:
    _, summary, http = seeded
    ref = summary.special["at_3mib_boundary"]

    sizes = [
        a["size_bytes"]
        for a in http.get(f"/v1/accounts/{ref.account_id}/transactions/{ref.transaction_id}").json()["attachments"]
    ]

    assert sizes == [3 * 1024 * 1024 - 1, 3 * 1024 * 1024]


def test_given_the_specials_then_they_are_on_a_singapore_business_near_the_end_of_its_history(seeded: Seeded) -> None:
    emulator, summary, http = seeded
    refs = list(summary.special.values())
    account_id = refs[0].account_id

    business = http.get(f"/v1/businesses/{refs[0].business_id}").json()
    sequences = [emulator.get_transaction(r.account_id, r.transaction_id).sequence for r in refs]
    count = len(list(emulator.iter_transactions(account_id)))

    # Hong Kong businesses cannot sync expenses, so the specials must be where expense sync meets them
    assert business["incorporation_country"] == "SG"
    assert {r.account_id for r in refs} == {account_id}
    assert all(count - 25 <= s <= count for s in sequences)
