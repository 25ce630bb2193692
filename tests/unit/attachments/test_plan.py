"""Which receipts go to Xero: limits, no second upload of the same content, replacement, recovery."""

from __future__ import annotations

from xerosync.attachments.plan import Step, UploadRecord, UploadState, plan_uploads
from xerosync.ledger.models import AttachmentMeta

MAX = 3_000_000


def _file(n: int, size: int = 1000, sha: str | None = None, name: str | None = None) -> AttachmentMeta:
    return AttachmentMeta(attachment_id=f"att_{n}", file_name=name or f"r{n}.pdf", content_type="application/pdf",
                          size_bytes=size, sha256=sha or f"sha{n}")


def _plan(files: list[AttachmentMeta], previous: dict[str, UploadRecord] | None = None) -> list[Step]:
    return [d.step for d in plan_uploads(files, previous or {}, max_bytes=MAX, max_count=10)]


def _uploaded(file: AttachmentMeta, state: UploadState = UploadState.UPLOADED) -> UploadRecord:
    return UploadRecord(attachment_id=file.attachment_id, original_name=file.file_name, sha256=file.sha256,
                        size_bytes=file.size_bytes, state=state, xero_file_name=file.file_name)


def test_eleven_files_upload_ten_and_refuse_the_eleventh_with_the_way_out() -> None:
    files = [_file(n) for n in range(11)]
    decisions = plan_uploads(files, {}, max_bytes=MAX, max_count=10)
    assert [d.step for d in decisions] == [Step.UPLOAD] * 10 + [Step.REJECT]
    assert "at most 10" in str(decisions[-1].reason) and decisions[-1].action


def test_a_file_of_three_megabytes_or_more_is_refused_and_an_empty_one_too() -> None:
    decisions = plan_uploads([_file(1, size=3_100_000), _file(2, size=0), _file(3, size=2_999_999)], {},
                             max_bytes=MAX, max_count=10)
    assert [d.step for d in decisions] == [Step.REJECT, Step.REJECT, Step.UPLOAD]
    assert "3.1 MB" in str(decisions[0].reason) and "under 3.0 MB" in str(decisions[0].reason)
    assert "empty" in str(decisions[1].reason)


def test_the_same_content_is_never_uploaded_twice_even_under_another_id() -> None:
    first = _file(1, sha="same")
    again = _file(2, sha="same", name="copy.pdf")
    assert _plan([first, again], {"att_1": _uploaded(first)}) == [Step.SKIP, Step.SKIP]
    # ...nor when both arrive at once
    assert _plan([first, again]) == [Step.UPLOAD, Step.SKIP]


def test_a_changed_file_with_the_same_name_replaces_the_one_in_xero() -> None:
    old = _file(1, sha="v1", name="invoice.pdf")
    new = _file(2, sha="v2", name="invoice.pdf")
    decisions = plan_uploads([new], {"att_1": _uploaded(old)}, max_bytes=MAX, max_count=10)
    assert decisions[0].step == Step.REPLACE and decisions[0].replaces is not None


def test_a_second_receipt_that_only_shares_the_name_is_added_beside_the_first() -> None:
    # A phone names every photo image.jpg: the first is still on the payment, so it is not replaced
    first = _file(1, sha="photo-1", name="image.jpg")
    second = _file(2, sha="photo-2", name="image.jpg")
    assert _plan([first, second], {"att_1": _uploaded(first)}) == [Step.SKIP, Step.UPLOAD]


def test_what_xero_already_holds_counts_towards_ten() -> None:
    held = [_file(n) for n in range(9)]
    previous = {f.attachment_id: _uploaded(f) for f in held}
    steps = _plan([*held, _file(20), _file(21)], previous)
    assert steps == [Step.SKIP] * 9 + [Step.UPLOAD, Step.REJECT]


def test_an_upload_whose_outcome_is_unknown_is_verified_before_sending() -> None:
    file = _file(1)
    assert _plan([file], {"att_1": _uploaded(file, UploadState.UPLOADING)}) == [Step.VERIFY]
