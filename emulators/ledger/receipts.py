"""Receipt bytes: real files of the type their name claims, produced lazily from a small recipe.

A seeded ledger holds thousands of receipts, some over Xero's 3 MB limit; keeping their bytes would cost
gigabytes. A ``GeneratedReceipt`` keeps only (kind, size, seed, label) and rebuilds the same bytes on every
read, in chunks, so a large file is streamed and never held whole. Each builder emits a structurally valid
file (PDF objects with a correct xref, PNG chunks with CRCs, a decodable baseline JPEG, an ISO-BMFF HEIC
header) and reaches the exact size with format-legal padding (a PDF content-stream comment, a PNG tEXt
chunk, JPEG COM segments, the HEIC mdat box), so a magic-bytes sniffer and a size check both see the truth.
"""

from __future__ import annotations

import hashlib
import random
import re
import struct
import zlib
from base64 import b64encode
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Literal, Protocol, get_args

from emulators.ledger.models import ReceiptSpec, invalid

ReceiptKind = Literal["pdf", "png", "jpeg", "heic", "txt", "csv", "exe", "empty"]
RECEIPT_KINDS: tuple[str, ...] = get_args(ReceiptKind)

# What the customer's upload would claim. ``exe`` is the executable disguised as a PDF, so it claims PDF.
CONTENT_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "heic": "image/heic",
    "txt": "text/plain",
    "csv": "text/csv",
    "exe": "application/pdf",
    "empty": "application/pdf",
}
EXTENSIONS: dict[str, str] = {
    "pdf": ".pdf",
    "png": ".png",
    "jpeg": ".jpg",
    "heic": ".heic",
    "txt": ".txt",
    "csv": ".csv",
    "exe": ".pdf",
    "empty": ".pdf",
}

CHUNK_SIZE = 64 * 1024
# Xero's documented attachment limits (help centre: "less than 3MB, up to a maximum of 10 attachments").
# The generator uses them to make receipts on both sides of each limit.
XERO_MAX_ATTACHMENT_BYTES = 3 * 1024 * 1024
XERO_MAX_ATTACHMENTS = 10


class ReceiptSource(Protocol):
    """Where an attachment's bytes come from."""

    @property
    def size_bytes(self) -> int: ...

    def iter_chunks(self) -> Iterator[bytes]: ...

    def sha256(self) -> str: ...

    def read(self) -> bytes: ...


class UploadedReceipt:
    """Bytes given through the control API, held as they are (they are small by nature of a JSON upload)."""

    __slots__ = ("_content", "_sha256")

    def __init__(self, content: bytes) -> None:
        self._content = bytes(content)
        self._sha256 = hashlib.sha256(self._content).hexdigest()

    @property
    def size_bytes(self) -> int:
        return len(self._content)

    def iter_chunks(self) -> Iterator[bytes]:
        for start in range(0, len(self._content), CHUNK_SIZE):
            yield self._content[start : start + CHUNK_SIZE]

    def sha256(self) -> str:
        return self._sha256

    def read(self) -> bytes:
        return self._content


class GeneratedReceipt:
    """A recipe; the bytes are rebuilt identically on every read."""

    __slots__ = ("_sha256", "_size_bytes", "kind", "label", "seed")

    def __init__(self, kind: str, size_bytes: int, seed: int, label: str = "") -> None:
        if kind not in RECEIPT_KINDS:
            raise invalid(f"Unknown receipt kind {kind!r}; one of {', '.join(RECEIPT_KINDS)}.")
        self.kind = kind
        self.seed = seed
        self.label = _tagged_label(label, seed)
        if kind == "empty":
            if size_bytes != 0:
                raise invalid("An empty receipt has size 0.")
        elif size_bytes < min_size(kind, label, seed):
            raise invalid(f"A {kind} receipt needs at least {min_size(kind, label, seed)} bytes.")
        self._size_bytes = size_bytes
        self._sha256: str | None = None

    @property
    def size_bytes(self) -> int:
        return self._size_bytes

    def iter_chunks(self) -> Iterator[bytes]:
        return _BUILDERS[self.kind](self.seed, self._size_bytes, self.label.encode("ascii"))

    def sha256(self) -> str:
        # Lazy because hashing every seeded receipt up front would cost seconds nobody asked for. Two threads
        # may race here; both compute the same digest, so the race is harmless.
        if self._sha256 is None:
            digest = hashlib.sha256()
            for chunk in self.iter_chunks():
                digest.update(chunk)
            self._sha256 = digest.hexdigest()
        return self._sha256

    def read(self) -> bytes:
        return b"".join(self.iter_chunks())

    def __repr__(self) -> str:
        return f"GeneratedReceipt({self.kind!r}, {self._size_bytes}, seed={self.seed})"


def generated_spec(
    kind: str,
    size_bytes: int,
    *,
    seed: int = 0,
    file_name: str | None = None,
    content_type: str | None = None,
    label: str = "",
) -> ReceiptSpec:
    """A receipt of ``kind`` with exactly ``size_bytes`` bytes; name and type default from the kind."""
    source = GeneratedReceipt(kind, size_bytes, seed, label)
    name = file_name if file_name is not None else f"receipt-{seed % 100000:05d}{EXTENSIONS[kind]}"
    return ReceiptSpec(file_name=name, content_type=content_type or CONTENT_TYPES[kind], source=source)


def uploaded_spec(file_name: str, content: bytes, content_type: str) -> ReceiptSpec:
    return ReceiptSpec(file_name=file_name, content_type=content_type, source=UploadedReceipt(content))


def min_size(kind: str, label: str = "", seed: int = 0) -> int:
    """The smallest file a builder can emit for ``kind`` (headers and trailers with no padding)."""
    return _MIN_SIZES[kind](seed, _tagged_label(label, seed).encode("ascii"))


# ---------------------------------------------------------------------------------------------- padding


def _tagged_label(label: str, seed: int) -> str:
    """The text a receipt shows, ending with its seed: this is what makes every receipt's bytes unique.

    Labels go inside a PDF string and a PNG tEXt chunk: kept to characters that need no escaping.
    """
    return re.sub(r"[^A-Za-z0-9 .,:#/_-]", "?", label or "Receipt")[:100] + f" #{seed}"


# Padding blocks are shared between receipts (seed modulo this), because building one costs half a
# millisecond and a seeded ledger has thousands of receipts; every file still differs, as its head carries
# its own seed.
_BLOCK_VARIANTS = 64


@lru_cache(maxsize=4 * _BLOCK_VARIANTS)
def _text_block(variant: int, line_prefix: bytes) -> bytes:
    """About 64 KB of printable 80-byte lines, each starting with ``line_prefix``.

    Any prefix of the block is whole lines plus a partial one, which is what lets a PDF content stream be
    cut at an arbitrary length and stay valid (a ``%`` comment ends at the next newline).
    """
    rng = random.Random(variant)
    width = 79 - len(line_prefix)
    lines = []
    for _ in range(CHUNK_SIZE // 80):
        text = b64encode(rng.randbytes(width))[:width]
        lines.append(line_prefix + text + b"\n")
    return b"".join(lines)


@lru_cache(maxsize=_BLOCK_VARIANTS)
def _binary_block(variant: int) -> bytes:
    return random.Random(variant).randbytes(CHUNK_SIZE)


@lru_cache(maxsize=_BLOCK_VARIANTS)
def _csv_block(variant: int) -> bytes:
    rng = random.Random(variant)
    rows = []
    size = 0
    while size < CHUNK_SIZE:
        row = (
            f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d},item {rng.randint(1, 9999)},"
            f"{rng.randint(1, 20)},{rng.randint(1, 9999)}.{rng.randint(0, 99):02d}\n"
        ).encode()
        rows.append(row)
        size += len(row)
    return b"".join(rows)


def _repeat(block: bytes, length: int) -> Iterator[bytes]:
    """``length`` bytes of ``block`` repeated, in chunks no larger than the block."""
    while length > 0:
        piece = block if length >= len(block) else block[:length]
        yield piece
        length -= len(piece)


# ---------------------------------------------------------------------------------------------- PDF

_PDF_HEADER = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
_PDF_OBJECTS = (
    b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n",
    b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n",
    b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842]"
    b" /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>\nendobj\n",
)
_PDF_FONT = b"5 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\n"
_PDF_STREAM_TAIL = b"\nendstream\nendobj\n"


def _pdf_stream_head(length: int) -> bytes:
    # Numbers padded with spaces to a fixed width so the file's overhead does not depend on the size
    # (whitespace between PDF tokens is free; a variable width would make some sizes unreachable).
    return b"4 0 obj\n<< /Length %-12d>>\nstream\n" % length


def _pdf_text(label: bytes) -> bytes:
    return b"BT /F1 14 Tf 72 760 Td (" + label + b") Tj ET\n"


def _pdf_overhead() -> int:
    head = len(_PDF_HEADER) + sum(map(len, _PDF_OBJECTS)) + len(_pdf_stream_head(0))
    xref = len(b"xref\n0 6\n") + 6 * 20
    trailer = len(_pdf_trailer(0))
    return head + len(_PDF_STREAM_TAIL) + len(_PDF_FONT) + xref + trailer


def _pdf_trailer(xref_offset: int) -> bytes:
    return b"trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n%-12d\n%%%%EOF\n" % xref_offset


def _pdf(seed: int, size: int, label: bytes) -> Iterator[bytes]:
    text = _pdf_text(label)
    stream_length = size - _pdf_overhead()
    offsets = []
    position = len(_PDF_HEADER)
    for obj in _PDF_OBJECTS:
        offsets.append(position)
        position += len(obj)
    offsets.append(position)  # object 4, the content stream
    position += len(_pdf_stream_head(stream_length)) + stream_length + len(_PDF_STREAM_TAIL)
    offsets.append(position)  # object 5, the font
    xref_offset = position + len(_PDF_FONT)
    xref = b"xref\n0 6\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)

    yield _PDF_HEADER + b"".join(_PDF_OBJECTS) + _pdf_stream_head(stream_length) + text
    yield from _repeat(_text_block(seed % _BLOCK_VARIANTS, b"%"), stream_length - len(text))
    yield _PDF_STREAM_TAIL + _PDF_FONT + xref + _pdf_trailer(xref_offset)


# ---------------------------------------------------------------------------------------------- PNG

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_SIDE = 16
_PNG_TEXT_KEY = b"Comment\x00"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@lru_cache(maxsize=_BLOCK_VARIANTS)
def _png_image(variant: int) -> bytes:
    """Signature, IHDR and IDAT of a 16x16 RGB image in one colour; the padding chunk follows."""
    rng = random.Random(variant)
    pixel = bytes(rng.randrange(256) for _ in range(3))
    ihdr = struct.pack(">IIBBBBB", _PNG_SIDE, _PNG_SIDE, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + pixel * _PNG_SIDE for _ in range(_PNG_SIDE))
    return _PNG_SIGNATURE + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(raw, 9))


_PNG_IEND = _png_chunk(b"IEND", b"")


def _png(seed: int, size: int, label: bytes) -> Iterator[bytes]:
    image = _png_image(seed % _BLOCK_VARIANTS)
    head = _PNG_TEXT_KEY + label + b"\n"
    text_length = size - len(image) - len(_PNG_IEND) - 12
    yield image + struct.pack(">I", text_length) + b"tEXt"
    # The tEXt CRC follows its data, so it is computed while the data streams out.
    crc = zlib.crc32(b"tEXt" + head)
    yield head
    for piece in _repeat(_text_block(seed % _BLOCK_VARIANTS, b""), text_length - len(head)):
        crc = zlib.crc32(piece, crc)
        yield piece
    yield struct.pack(">I", crc) + _PNG_IEND


# ---------------------------------------------------------------------------------------------- JPEG

_JPEG_HEAD = (
    b"\xff\xd8"  # SOI
    + b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"  # APP0 JFIF 1.1
)
# A decodable 8x8 greyscale baseline image: quantisation table of ones, one-code Huffman tables (DC
# category 0, AC end-of-block), and a scan of two bits ("0" then "0", padded with ones): uniform grey.
_JPEG_BODY = b"".join(
    (
        b"\xff\xdb\x00\x43\x00" + b"\x01" * 64,  # DQT
        b"\xff\xc0\x00\x0b\x08\x00\x08\x00\x08\x01\x01\x11\x00",  # SOF0 8x8, one component
        b"\xff\xc4\x00\x14\x00\x01" + b"\x00" * 15 + b"\x00",  # DHT DC 0: BITS (one 1-bit code), HUFFVAL
        b"\xff\xc4\x00\x14\x10\x01" + b"\x00" * 15 + b"\x00",  # DHT AC 0: the same, value EOB
        b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00",  # SOS
        b"\x3f",  # entropy-coded data
        b"\xff\xd9",  # EOI
    )
)
_JPEG_SEGMENT_MAX = 4 + 65533  # marker (2) + length field (2) + the largest payload a length allows


def _jpeg(seed: int, size: int, label: bytes) -> Iterator[bytes]:
    padding = size - len(_JPEG_HEAD) - len(_JPEG_BODY)
    segments = -(-padding // _JPEG_SEGMENT_MAX)
    base, extra = divmod(padding, segments)
    yield _JPEG_HEAD
    block = _text_block(seed % _BLOCK_VARIANTS, b"")
    for index in range(segments):
        # Even split: with two or more segments each is over 32 KB, so none falls below the 4-byte minimum.
        payload = (base + (1 if index < extra else 0)) - 4
        yield b"\xff\xfe" + struct.pack(">H", payload + 2)
        lead = label + b"\n" if index == 0 else b""
        yield lead
        yield from _repeat(block, payload - len(lead))
    yield _JPEG_BODY


# ---------------------------------------------------------------------------------------------- HEIC

_HEIC_FTYP = struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00" + b"mif1heic"
_HEIC_HDLR = struct.pack(">I", 33) + b"hdlr" + b"\x00" * 8 + b"pict" + b"\x00" * 13
_HEIC_META = struct.pack(">I", 12 + len(_HEIC_HDLR)) + b"meta" + b"\x00" * 4 + _HEIC_HDLR


def _heic(seed: int, size: int, label: bytes) -> Iterator[bytes]:
    mdat_length = size - len(_HEIC_FTYP) - len(_HEIC_META)
    yield _HEIC_FTYP + _HEIC_META + struct.pack(">I", mdat_length) + b"mdat" + label
    yield from _repeat(_binary_block(seed % _BLOCK_VARIANTS), mdat_length - 8 - len(label))


# ---------------------------------------------------------------------------------------------- text


def _txt_head(label: bytes) -> bytes:
    return b"RECEIPT\n" + label + b"\n\n"


def _txt(seed: int, size: int, label: bytes) -> Iterator[bytes]:
    head = _txt_head(label)
    yield head
    yield from _repeat(_text_block(seed % _BLOCK_VARIANTS, b"item "), size - len(head) - 1)
    yield b"\n"


_CSV_HEADER = b"date,description,quantity,amount\n"


def _csv_head(label: bytes) -> bytes:
    return _CSV_HEADER + b"2026-01-01," + label.replace(b",", b" ") + b",1,0.00\n"


def _csv(seed: int, size: int, label: bytes) -> Iterator[bytes]:
    head = _csv_head(label)
    yield head
    yield from _repeat(_csv_block(seed % _BLOCK_VARIANTS), size - len(head) - 1)
    yield b"\n"


# ---------------------------------------------------------------------------------------------- hostile files

# A Windows PE image's first bytes: the DOS header ("MZ", e_lfanew at 0x3C pointing at 0x80), the DOS stub,
# then the "PE\0\0" signature and a COFF header for x86-64. Enough for any sniffer to call it an executable.
_DOS_STUB = b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21This program cannot be run in DOS mode.\r\r\n$"
_EXE_HEAD = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
    + b"\x00" * 44
    + struct.pack("<I", 0x80)
    + _DOS_STUB.ljust(0x80 - 64, b"\x00")
    + b"PE\x00\x00"
    + struct.pack("<HHIIIHH", 0x8664, 0, 0, 0, 0, 0xF0, 0x22)
)


def _exe(seed: int, size: int, label: bytes) -> Iterator[bytes]:
    yield _EXE_HEAD + label
    yield from _repeat(_binary_block(seed % _BLOCK_VARIANTS), size - len(_EXE_HEAD) - len(label))


def _empty(seed: int, size: int, label: bytes) -> Iterator[bytes]:
    return iter(())


_BUILDERS: dict[str, Callable[[int, int, bytes], Iterator[bytes]]] = {
    "pdf": _pdf,
    "png": _png,
    "jpeg": _jpeg,
    "heic": _heic,
    "txt": _txt,
    "csv": _csv,
    "exe": _exe,
    "empty": _empty,
}

_MIN_SIZES: dict[str, Callable[[int, bytes], int]] = {
    "pdf": lambda seed, label: _pdf_overhead() + len(_pdf_text(label)),
    "png": lambda seed, label: (
        len(_png_image(seed % _BLOCK_VARIANTS)) + len(_PNG_IEND) + 12 + len(_PNG_TEXT_KEY) + len(label) + 1
    ),
    "jpeg": lambda seed, label: len(_JPEG_HEAD) + len(_JPEG_BODY) + 4 + len(label) + 1,
    "heic": lambda seed, label: len(_HEIC_FTYP) + len(_HEIC_META) + 8 + len(label),
    "txt": lambda seed, label: len(_txt_head(label)) + 1,
    "csv": lambda seed, label: len(_csv_head(label)) + 1,
    "exe": lambda seed, label: len(_EXE_HEAD) + len(label),
    "empty": lambda seed, label: 0,
}
