"""A receipt's type comes from its bytes; its name is made safe for Xero."""

from __future__ import annotations

import pytest

from xerosync.attachments.files import (
    EXECUTABLE,
    HEIC,
    JPEG,
    OLE2,
    PDF,
    PNG,
    TEXT,
    ZIP,
    declared_type_problem,
    identify,
    xero_file_name,
)


@pytest.mark.parametrize(("head", "kind"), [
    (b"%PDF-1.7\n%\xe2\xe3", PDF),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", PNG),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", JPEG),
    (b"PK\x03\x04\x14\x00\x06\x00", ZIP),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00", OLE2),
    (b"MZ\x90\x00\x03\x00\x00\x00", EXECUTABLE),
    (b"\x7fELF\x02\x01\x01", EXECUTABLE),
    (b"\x00\x00\x00\x18ftypheic\x00\x00", HEIC),
    (b"date,amount\n2026-11-02,12.50\n", TEXT),
    ("Taxi to client, 12.50 HKD — thank you\n".encode(), TEXT),
])
def test_the_type_comes_from_the_first_bytes(head: bytes, kind: object) -> None:
    assert identify(head) is kind


def test_unknown_binary_and_empty_content_are_not_recognised() -> None:
    assert identify(b"\x00\x01\x02\x03garbage\x00") is None
    assert identify(b"") is None


def test_an_executable_named_pdf_is_still_an_executable() -> None:
    kind = identify(b"MZ\x90\x00")
    assert kind is EXECUTABLE and not kind.accepted_by_xero


def test_heic_is_recognised_but_not_a_type_xero_accepts() -> None:
    assert not HEIC.accepted_by_xero and PDF.accepted_by_xero


@pytest.mark.parametrize(("original", "kind", "expected"), [
    ("receipt.pdf", PDF, "receipt.pdf"),
    ("Receipt.PDF", PDF, "Receipt.pdf"),
    ("../../etc/passwd.pdf", PDF, "passwd.pdf"),
    ("C:\\Users\\amy\\Desktop\\taxi.jpeg", JPEG, "taxi.jpeg"),
    ("scan", PDF, "scan.pdf"),
    ("photo.pdf", PNG, "photo.pdf.png"),  # the content is a PNG whatever the name says
    ('inv<1>:"a"|b?*+.pdf', PDF, "inv_1___a__b.pdf"),
    ("   ", PDF, "receipt-3.pdf"),
    ("report.xlsx", ZIP, "report.xlsx"),
    ("notes.csv", TEXT, "notes.csv"),
])
def test_names_are_made_safe_and_match_the_content(original: str, kind: object, expected: str) -> None:
    assert xero_file_name(original, kind, "receipt-3") == expected  # type: ignore[arg-type]


def test_long_names_keep_their_extension_within_255_characters() -> None:
    name = xero_file_name("x" * 400 + ".pdf", PDF, "r")
    assert len(name) == 255 and name.endswith(".pdf")


def test_before_the_bytes_are_read_the_name_or_declared_type_decides() -> None:
    assert declared_type_problem("receipt.pdf", "application/pdf") is None
    assert declared_type_problem("scan", "image/jpeg") is None  # named at upload from its content
    assert declared_type_problem("report.xlsx", "application/octet-stream") is None
    assert declared_type_problem("IMG_0001.HEIC", "image/heic") == "Xero does not accept this file: it is a HEIC file."
    assert "a program" in str(declared_type_problem("setup.exe", "application/x-msdownload"))
    assert "unknown type" in str(declared_type_problem("blob", "application/x-unknown"))
