"""How Xero writes dates, money and documents on the wire."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any
from xml.sax.saxutils import escape

TWO_PLACES = Decimal("0.01")
FOUR_PLACES = Decimal("0.0001")


def ms_date(moment: datetime) -> str:
    """Xero's Microsoft JSON date with offset, used on entity fields: ``/Date(1573755038314+0000)/``."""
    return f"/Date({int(moment.timestamp() * 1000)}+0000)/"


def ms_date_for_day(day: date) -> str:
    return ms_date(datetime(day.year, day.month, day.day, tzinfo=UTC))


def envelope_date(moment: datetime) -> str:
    """The response envelope's ``DateTimeUTC``, which Xero writes without the offset."""
    return f"/Date({int(moment.timestamp() * 1000)})/"


def date_string(day: date) -> str:
    return f"{day.isoformat()}T00:00:00"


def connection_date(moment: datetime) -> str:
    """The identity service's dates: no zone, seven fraction digits (``2019-12-07T18:46:19.5165400``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"


def utc(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC)


_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def parse_xero_date(value: Any) -> date | None:
    """A request ``Date``: ``2024-01-31``, ``2024-01-31T00:00:00`` or ``/Date(ms)/``. None if unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    found = _MS_DATE.match(text)
    if found:
        return datetime.fromtimestamp(int(found.group(1)) / 1000, tz=UTC).date()
    try:
        return datetime.fromisoformat(text).date() if "T" in text else date.fromisoformat(text)
    except ValueError:
        return None


def parse_http_datetime(value: str) -> datetime | None:
    """``If-Modified-Since``: ISO 8601 (what the spec shows) or an RFC 1123 HTTP date. Naive means UTC."""
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def to_decimal(value: Any) -> Decimal | None:
    """A JSON number or numeric string as an exact Decimal (never through float arithmetic)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def money(value: Decimal, places: Decimal = TWO_PLACES) -> Decimal:
    # Half away from zero, the rounding accountants expect; Xero does not document its rounding mode.
    return value.quantize(places, rounding=ROUND_HALF_UP)


def day_offset(moment: datetime, hours: float) -> date:
    """The calendar day at ``moment`` in a zone ``hours`` from UTC (organisation-local "today")."""
    return (moment + timedelta(hours=hours)).date()


class _XeroJsonEncoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, Decimal):
            # Xero sends money as JSON numbers; trailing zeros are not preserved by any JSON parser.
            return float(o)
        return super().default(o)


def dump_json(document: Any) -> bytes:
    return json.dumps(document, cls=_XeroJsonEncoder, separators=(",", ":")).encode("utf-8")


def _singular(plural: str) -> str:
    if plural.endswith("ies"):
        return plural[:-3] + "y"
    if plural.endswith("sses") or plural.endswith("xes"):
        return plural[:-2]
    if plural.endswith("s"):
        return plural[:-1]
    return plural + "Item"


def _xml_value(name: str, value: Any, out: list[str]) -> None:
    if value is None:
        out.append(f"<{name} />")
    elif isinstance(value, dict):
        out.append(f"<{name}>")
        for key, inner in value.items():
            _xml_value(key, inner, out)
        out.append(f"</{name}>")
    elif isinstance(value, list):
        out.append(f"<{name}>")
        for item in value:
            _xml_value(_singular(name), item, out)
        out.append(f"</{name}>")
    elif isinstance(value, bool):
        out.append(f"<{name}>{'true' if value else 'false'}</{name}>")
    else:
        out.append(f"<{name}>{escape(str(value))}</{name}>")


def dump_xml(document: dict[str, Any], root: str = "Response") -> bytes:
    """The Accounting API's default representation, for clients that forget ``Accept: application/json``."""
    out: list[str] = ['<?xml version="1.0" encoding="utf-8"?>']
    _xml_value(root, document, out)
    return "".join(out).encode("utf-8")
