"""Payee names as one business's history knows them (pure): the same merchant under its many spellings.

The bank's ledger names a payee as the card scheme or the transfer gave it: "GRAB* Grab", "Grab",
"grab  ", "SQ *Blue Bottle", "Baker & Partners LLP", "Baker & Partners". Suggestions and per-payee rules are
kept per *normalised* payee (docs/sync-expenses.md, "Suggestions and per-payee rules"):

1. Unicode compatibility forms folded (full-width letters, ligatures) and case folded;
2. a card processor's prefix dropped ("SQ *", "PAYPAL *", "GRAB*", "TST*", "SP *", "STRIPE*", "GPAY*"), unless
   nothing would be left;
3. punctuation to spaces ("&" and letters of every script kept), store numbers ("#1234") dropped;
4. trailing legal forms (and an "&" they leave behind) dropped ("Pte. Ltd.", "Limited", "LLP", "Inc", "GmbH",
   "Sdn Bhd", ...), unless nothing would be left;
5. spaces collapsed.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

# Card processors and wallets that put their own name before the merchant's, with a star.
CARD_PROCESSOR_PREFIXES = ("sq", "paypal", "pp", "grab", "tst", "sp", "stripe", "gpay", "shopee", "lazada")
_PREFIX = re.compile(r"^(?:" + "|".join(CARD_PROCESSOR_PREFIXES) + r")\s*\*\s*")
_STORE_NUMBER = re.compile(r"#\s*\w*")
_PUNCTUATION = re.compile(r"[^\w&]+")
# Legal forms, as words after the punctuation became spaces ("pte. ltd." -> "pte ltd").
LEGAL_SUFFIXES = (
    ("pte", "ltd"), ("pvt", "ltd"), ("pty", "ltd"), ("sdn", "bhd"), ("co", "ltd"), ("ltd",), ("limited",), ("llc",),
    ("llp",), ("lp",), ("inc",), ("incorporated",), ("corp",), ("corporation",), ("plc",), ("gmbh",), ("ag",),
    ("bv",), ("sa",), ("sarl",), ("pte",), ("bhd",), ("company",), ("co",), ("有限公司",),
)
KEY_LENGTH = 20  # hex digits of the digest that names a payee in keys and rule ids


def normalise_payee(name: str) -> str:
    """The payee as suggestions and rules know it; "" for a payment without a payee name."""
    text = unicodedata.normalize("NFKC", name).casefold().strip()
    stripped = _PREFIX.sub("", text)
    if stripped.strip(" *"):
        text = stripped
    text = _STORE_NUMBER.sub(" ", text)
    words = _PUNCTUATION.sub(" ", text).replace("_", " ").split()
    while True:
        for suffix in LEGAL_SUFFIXES:
            if len(words) > len(suffix) and tuple(words[-len(suffix):]) == suffix:
                words = words[:-len(suffix)]
                break
        else:
            break
        while len(words) > 1 and words[-1] == "&":  # "Lee & Co" -> "lee"
            words.pop()
    if words and words[-1].endswith("有限公司") and len(words[-1]) > len("有限公司"):
        words[-1] = words[-1][:-len("有限公司")]
    return " ".join(words)


def payee_digest(normalised: str) -> str:
    """Names a normalised payee in keys and rule ids: bounded length, no characters a path would need escaped."""
    return hashlib.sha256(normalised.encode()).hexdigest()[:KEY_LENGTH]


def rule_id(normalised: str) -> str:
    return f"pr_{payee_digest(normalised)}"
