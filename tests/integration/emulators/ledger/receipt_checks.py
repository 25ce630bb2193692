"""Independent checks of receipt bytes: a magic-bytes sniffer and structure walkers for PDF, PNG and JPEG.

Written from the formats' specifications, not from the emulator's builders, so that a builder bug shows.
"""

from __future__ import annotations

import re
import struct
import zlib


def sniff(data: bytes) -> str:
    """What a magic-bytes sniffer would call the file."""
    if not data:
        return "empty"
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1"):
        return "heic"
    if data.startswith(b"MZ") or data.startswith(b"\x7fELF"):
        return "executable"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "binary"
    first = text.split("\n", 1)[0]
    return "csv" if first.count(",") >= 2 else "txt"


def check_pdf(data: bytes) -> None:
    """Header, %%EOF, startxref pointing at the xref table, and every xref offset at its ``N 0 obj``."""
    assert data.startswith(b"%PDF-1."), data[:16]
    assert data.rstrip().endswith(b"%%EOF")
    match = re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", data[-64:])
    assert match, data[-64:]
    xref_at = int(match.group(1))
    assert data[xref_at : xref_at + 4] == b"xref"
    header = re.match(rb"xref\s+0\s+(\d+)\s+", data[xref_at:])
    assert header
    entries_at = xref_at + header.end()
    for number in range(1, int(header.group(1))):
        entry = data[entries_at + 20 * number : entries_at + 20 * (number + 1)]
        offset = int(entry[:10])
        assert data[offset:].startswith(b"%d 0 obj" % number), (number, offset)
    length = re.search(rb"/Length\s+(\d+)\s*>>\s*stream\n", data)
    assert length
    stream_end = length.end() + int(length.group(1))
    assert data[stream_end:].startswith(b"\nendstream"), "content stream /Length is wrong"


def check_png(data: bytes) -> list[bytes]:
    """Every chunk's length and CRC; IHDR first, IEND last. Returns the chunk types."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, kinds = 8, []
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        kinds.append(kind)
        position += 12 + length
    assert position == len(data)
    assert kinds[0] == b"IHDR"
    assert kinds[-1] == b"IEND"
    assert b"IDAT" in kinds
    return kinds


def check_jpeg(data: bytes) -> list[int]:
    """Walk the marker segments from SOI to SOS, then find EOI at the end. Returns the markers seen."""
    assert data[:2] == b"\xff\xd8"
    position, markers = 2, []
    while True:
        assert data[position] == 0xFF, f"no marker at {position}"
        marker = data[position + 1]
        markers.append(marker)
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        assert length >= 2
        position += 2 + length
        if marker == 0xDA:  # SOS: entropy-coded data follows until EOI
            break
    assert data.endswith(b"\xff\xd9")
    assert b"\xff\xd9" not in data[position:-2], "EOI before the end"
    for required in (0xE0, 0xDB, 0xC0, 0xC4):
        assert required in markers
    return markers
