"""What a receipt is, judged from its bytes, and the name it gets in Xero.

The type comes from the file's first bytes, never from its name or the Content-Type it was uploaded with:
an executable renamed ``.pdf`` stays an executable. Names are sanitised for Xero (no path, no reserved
characters, an extension that matches the content).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Xero's attachment types (docs/xero-facts.md#attachments): the first list,
# which every Xero accepts. Later lists add more (7z, eml, msg, odt, ods, heic...), not relied upon here.
XERO_EXTENSIONS = frozenset({"bmp", "csv", "doc", "docx", "gif", "jpeg", "jpg", "odf", "pdf", "png", "ppt", "pptx",
                             "rar", "rtf", "tif", "tiff", "txt", "xls", "xlsx", "zip"})
MAX_NAME_LENGTH = 255
HEAD_BYTES = 8192  # enough to tell every type below apart


@dataclass(frozen=True)
class FileKind:
    extension: str  # the canonical extension for the content
    mime_type: str
    family: frozenset[str]  # extensions a file of this content may legitimately carry

    @property
    def accepted_by_xero(self) -> bool:
        return self.extension in XERO_EXTENSIONS


def _kind(extension: str, mime: str, *family: str) -> FileKind:
    return FileKind(extension, mime, frozenset((extension, *family)))


PDF = _kind("pdf", "application/pdf")
PNG = _kind("png", "image/png")
JPEG = _kind("jpg", "image/jpeg", "jpeg")
GIF = _kind("gif", "image/gif")
BMP = _kind("bmp", "image/bmp")
TIFF = _kind("tiff", "image/tiff", "tif")
RTF = _kind("rtf", "application/rtf")
RAR = _kind("rar", "application/vnd.rar")
# Word, Excel and PowerPoint share one container each (OLE2 for the old formats, zip for the new); the
# name tells which member of the family it is, the bytes only that it belongs to the family.
OLE2 = _kind("doc", "application/msword", "xls", "ppt")
ZIP = _kind("zip", "application/zip", "docx", "xlsx", "pptx", "odf")
CSV = _kind("csv", "text/csv", "txt")
TEXT = _kind("txt", "text/plain", "csv")
HEIC = _kind("heic", "image/heic", "heif")
EXECUTABLE = _kind("exe", "application/octet-stream", "dll", "bin")

_MIME_BY_EXTENSION = {"doc": "application/msword", "xls": "application/vnd.ms-excel",
                      "ppt": "application/vnd.ms-powerpoint",
                      "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                      "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                      "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                      "odf": "application/vnd.oasis.opendocument.formula", "zip": "application/zip",
                      "csv": "text/csv", "txt": "text/plain", "jpeg": "image/jpeg", "tif": "image/tiff"}


def identify(head: bytes) -> FileKind | None:
    """The kind of file whose content starts with ``head``; None when it is none we know."""
    signatures: list[tuple[bytes, FileKind]] = [
        (b"%PDF-", PDF), (b"\x89PNG\r\n\x1a\n", PNG), (b"\xff\xd8\xff", JPEG), (b"GIF87a", GIF), (b"GIF89a", GIF),
        (b"II*\x00", TIFF), (b"MM\x00*", TIFF), (b"{\\rtf", RTF), (b"Rar!\x1a\x07", RAR),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", OLE2), (b"PK\x03\x04", ZIP), (b"MZ", EXECUTABLE),
        (b"\x7fELF", EXECUTABLE), (b"\xcf\xfa\xed\xfe", EXECUTABLE), (b"\xfe\xed\xfa\xce", EXECUTABLE),
        (b"#!", EXECUTABLE),
    ]
    for signature, kind in signatures:
        if head.startswith(signature):
            return kind
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heif"):
        return HEIC
    if head[:2] == b"BM" and len(head) >= 14:
        return BMP
    if _is_text(head):
        return TEXT
    return None


def _is_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 4:  # not just a multi-byte character cut at the end of the sample
            return False
        text = head[: error.start].decode("utf-8")
    return all(ch in "\t\r\n" or not unicodedata.category(ch).startswith("C") for ch in text)


_RESERVED = re.compile(r'[<>:"/\\|?*+\x00-\x1f\x7f]')
_SPACES = re.compile(r"\s+")


def xero_file_name(original: str, kind: FileKind, fallback_stem: str) -> str:
    """A name Xero accepts: the last path component only, no reserved characters, at most 255 characters,
    and an extension that matches the content (``invoice.PDF`` stays, ``scan`` becomes ``scan.pdf``)."""
    name = re.split(r"[/\\]", original)[-1]
    name = unicodedata.normalize("NFC", name)
    name = _SPACES.sub(" ", _RESERVED.sub("_", name)).strip(" .")
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    if extension.lower() in kind.family:
        extension = extension.lower()
    else:
        stem, extension = name, kind.extension
    stem = stem.strip(" ._") or fallback_stem
    return f"{stem[: MAX_NAME_LENGTH - len(extension) - 1]}.{extension}"


_KNOWN = (PDF, PNG, JPEG, GIF, BMP, TIFF, RTF, RAR, OLE2, ZIP, CSV, TEXT, HEIC, EXECUTABLE)
_EXTENSION_BY_MIME = {**{k.mime_type: k.extension for k in _KNOWN if k is not EXECUTABLE},
                      **{mime: extension for extension, mime in _MIME_BY_EXTENSION.items()}}


def declared_type_problem(file_name: str, content_type: str) -> str | None:
    """Before the bytes are read: why Xero will not take a file, judged from its name and declared type (a
    file whose name or type is one Xero accepts passes here; its bytes are judged when it is sent)."""
    extension = file_name.rpartition(".")[2].lower() if "." in file_name else ""
    declared = _EXTENSION_BY_MIME.get(content_type.split(";")[0].strip().lower())
    if extension in XERO_EXTENSIONS or declared in XERO_EXTENSIONS:
        return None
    what = declared or extension
    if what in EXECUTABLE.family:
        return "Xero does not accept this file: it is a program, not a document."
    return f"Xero does not accept this file: it is {f'a {what.upper()} file' if what else 'of an unknown type'}."
