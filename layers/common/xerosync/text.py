"""Text that goes to Xero: one line, without control or text-direction characters, within Xero's lengths.

Users' own text is refused when it holds such characters (``NO_FORBIDDEN_CHARACTERS`` on a request field);
text from the bank's ledger is cleaned (``for_xero``), because nobody can correct it before it is sent.
The characters and the lengths are in docs/http-api.md "Text sent to Xero".
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BeforeValidator

# What trimming removes: Unicode's White_Space characters (written out: regular expressions' \s differs between
# the document's readers and this code).
WHITESPACE = "\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
# C0 controls, DEL, C1 controls, and the embeddings, overrides and isolates that reorder what is shown.
FORBIDDEN_CHARACTERS = "\\x00-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069"
_FORBIDDEN = re.compile(f"[{FORBIDDEN_CHARACTERS}]")
PATTERN = f"^[^{FORBIDDEN_CHARACTERS}]*$"
# Bodies trim their strings, so a value must hold something other than spaces to count as given.
NOT_BLANK_PATTERN = f"^[^{FORBIDDEN_CHARACTERS}]*[^{WHITESPACE}{FORBIDDEN_CHARACTERS}][^{FORBIDDEN_CHARACTERS}]*$"


def forbidden_in(text: str) -> list[str]:
    """The forbidden characters in ``text``, as code points (``U+0000``), in order of first appearance."""
    seen: dict[str, None] = {}
    for match in _FORBIDDEN.finditer(text):
        seen.setdefault(f"U+{ord(match.group()):04X}", None)
    return list(seen)


def for_xero(text: str, limit: int) -> str:
    """Ledger text as Xero will show it: forbidden characters become spaces, spaces collapse, at most ``limit``."""
    return " ".join(_FORBIDDEN.sub(" ", text).split())[:limit]


def _refuse_forbidden(value: Any) -> Any:
    if isinstance(value, str):
        found = forbidden_in(value)
        if found:
            raise ValueError(f"holds characters Xero cannot show ({', '.join(found[:5])}: control or text-direction "
                             "characters); remove them")
    return value


# On a request field: checked before the body trims its strings, so that a trimmed-away control character is
# refused as the document's pattern says, not silently accepted.
NO_FORBIDDEN_CHARACTERS = BeforeValidator(_refuse_forbidden)
