"""Deterministic, realistic ledger data: businesses, accounts, postings and receipts.

Everything derives from ``random.Random`` instances seeded with strings built from the caller's seed, so the
same seed gives the same ids, amounts, names and receipt bytes on every run and on every machine (string
seeds do not depend on PYTHONHASHSEED). Only ``posted_at`` depends on the clock, unless ``end_at`` is given.

Balances are never invented: a history starts at zero with an opening deposit and every posting goes through
``LedgerState.post``, which derives the running balance; the generator only reads the balance to keep
debits from overdrawing the account.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from emulators.ledger.events import LedgerEvent
from emulators.ledger.models import (
    Account,
    Business,
    Counterparty,
    ReceiptSpec,
    Transaction,
    TransactionDraft,
    format_money,
    minor_units,
)
from emulators.ledger.receipts import XERO_MAX_ATTACHMENT_BYTES, generated_spec
from emulators.ledger.state import LedgerState

DAY = 86_400

# Rough value of one unit of each currency in HKD, so that one table of amount ranges fits all accounts.
_HKD_PER_UNIT: dict[str, float] = {
    "HKD": 1.0,
    "CNY": 1.08,
    "USD": 7.8,
    "SGD": 5.8,
    "EUR": 8.4,
    "GBP": 9.9,
    "AUD": 5.1,
    "JPY": 0.052,
}

_HK_NAMES = ("Harbour Lantern Trading Limited", "Kowloon Bay Logistics Limited", "Victoria Peak Studio Limited")
_SG_NAMES = (
    "Acme Trading Pte. Ltd.",
    "Merlion Robotics Pte. Ltd.",
    "Straits Coffee Roasters Pte. Ltd.",
    "Kampong Digital Pte. Ltd.",
    "Tanjong Pagar Design Pte. Ltd.",
    "Orchard Health Supplies Pte. Ltd.",
)
# Accounts by incorporation: a Hong Kong business banks in HKD, USD and CNY; a Singapore one in SGD and USD,
# with a third currency alternating so that every currency appears under both kinds of business.
_HK_ACCOUNTS = (("HKD", "HKD Operating"), ("USD", "USD Collections"), ("CNY", "CNY Suppliers"))
_SG_ACCOUNTS = (("SGD", "SGD Operating"), ("USD", "USD Operating"))
_SG_THIRD = (("HKD", "HKD Regional"), ("CNY", "CNY Sourcing"))

# (type, weight) of outbound and inbound payments.
_DEBIT_TYPES = (("TRANSFER", 34), ("CARD", 36), ("DIRECT_DEBIT", 9), ("FEE", 9), ("PAYROLL", 3), ("FX", 9))
_CREDIT_TYPES = (("TRANSFER", 80), ("FX", 9), ("INTEREST", 5), ("CARD", 6))
_CATEGORIES_BY_TYPE: dict[str, tuple[str, ...]] = {
    "CARD": ("travel", "entertainment", "software", "office_supplies", "advertising", "other"),
    "TRANSFER": ("professional_services", "rent", "office_supplies", "advertising", "utilities", "other"),
    "DIRECT_DEBIT": ("utilities", "software", "rent"),
    "FEE": ("bank_fees",),
    "PAYROLL": ("payroll",),
}
# Amount range in HKD per category (log-uniform between the bounds).
_RANGES_HKD: dict[str, tuple[float, float]] = {
    "advertising": (400, 40_000),
    "bank_fees": (5, 350),
    "entertainment": (120, 4_000),
    "office_supplies": (30, 6_000),
    "professional_services": (2_500, 60_000),
    "rent": (18_000, 120_000),
    "software": (60, 5_000),
    "travel": (40, 14_000),
    "utilities": (250, 7_000),
    "payroll": (40_000, 420_000),
    "other": (20, 9_000),
    "FX": (2_000, 150_000),
    "credit": (800, 320_000),
    "INTEREST": (1, 900),
}
_MERCHANTS: dict[str, tuple[str, ...]] = {
    "advertising": ("Meta Platforms Ireland Ltd", "Google Asia Pacific Pte. Ltd.", "LinkedIn Singapore Pte. Ltd."),
    "bank_fees": ("",),
    "entertainment": ("Tim Ho Wan", "Crystal Jade", "Starbucks Coffee", "Lau Pa Sat Hawker Centre"),
    "office_supplies": (
        "Pacific Office Supplies",
        "Popular Book Co.",
        "MUJI Hong Kong",
        "得力文具 (深圳)",
        "Officeworks",
    ),
    "professional_services": (
        "Baker & Partners LLP",
        "Lee & Co Corporate Secretarial",
        "KPMG Advisory",
        "陈氏会计师事务所",
    ),
    "rent": ("Pacific Place Properties Ltd", "CapitaLand Commercial Trust", "WeWork Asia"),
    "software": ("Amazon Web Services", "Atlassian", "Google Workspace", "Slack Technologies", "Figma", "Xero Limited"),
    "travel": (
        "Cathay Pacific Airways",
        "Singapore Airlines",
        "Grab",
        "MTR Corporation",
        "Trip.com",
        "Marriott Bonvoy",
    ),
    "utilities": ("CLP Power Hong Kong", "SP Group", "HKT Limited", "Singtel", "Towngas"),
    "payroll": ("",),
    "other": ("Lalamove", "Taobao Seller 3321", "Ninja Van", "SF Express", ""),
}
_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "advertising": ("Ad campaign November", "Sponsored posts", "Search ads"),
    "bank_fees": ("Monthly account fee", "Outward TT charge", "Card replacement fee", "FX margin"),
    "entertainment": ("Client dinner", "Team lunch", "Coffee with supplier"),
    "office_supplies": ("Office chairs", "Printer toner", "Stationery", "办公用品", "Monitor stands"),
    "professional_services": ("Audit fee FY2025", "Company secretarial", "Legal review of lease", "Tax filing"),
    "rent": ("Office rent", "Co-working desks", "Warehouse rent"),
    "software": ("AWS monthly bill", "Jira licences", "Workspace seats", "Design tool seats"),
    "travel": ("Flight HKG-SIN", "Taxi to client", "Hotel 2 nights", "Octopus top-up", "出差机票"),
    "utilities": ("Electricity", "Broadband", "Mobile plans", "Gas"),
    "payroll": ("Salaries", "Bonus payout", "MPF contributions"),
    "other": ("Courier", "Sample purchase", "Misc"),
}
_CUSTOMERS = (
    ("Kowloon Retail Group Ltd", "TRANSFER"),
    ("Lion City Distributors Pte Ltd", "TRANSFER"),
    ("深圳光明电子有限公司", "TRANSFER"),
    ("Stripe Payments Singapore", "TRANSFER"),
    ("Shopify Payments", "TRANSFER"),
    ("Northwind Traders Inc.", "TRANSFER"),
    ("Marina Bay Events Pte Ltd", "TRANSFER"),
)
# Receipt kinds by weight, and their size range in bytes (log-uniform).
_RECEIPT_KINDS = (("pdf", 45), ("jpeg", 28), ("png", 14), ("heic", 5), ("txt", 4), ("csv", 4))
_RECEIPT_SIZES: dict[str, tuple[int, int]] = {
    "pdf": (9_000, 450_000),
    "jpeg": (60_000, 1_600_000),
    "png": (25_000, 900_000),
    "heic": (300_000, 1_800_000),
    "txt": (600, 12_000),
    "csv": (900, 40_000),
}
_OVERSIZE_SHARE = 0.015  # receipts above Xero's 3 MB limit
_RECEIPT_SHARE = 0.45  # categorised debits that carry receipts
_MANY_RECEIPTS_SHARE = 0.002  # categorised debits with more than Xero's 10 receipts
SPECIALS_MIN_POSTINGS = 30  # an account shorter than this gets no special receipts


def _rng(*parts: object) -> random.Random:
    return random.Random(":".join(str(p) for p in parts))


def _weighted(rng: random.Random, table: Sequence[tuple[str, int]]) -> str:
    return rng.choices([k for k, _ in table], weights=[w for _, w in table])[0]


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _hex_id(rng: random.Random, prefix: str) -> str:
    return f"{prefix}_{rng.getrandbits(96):024x}"


class PostingGenerator:
    """Drafts of realistic postings for one account, driven by one seeded ``Random``."""

    def __init__(self, rng: random.Random, currency: str) -> None:
        self.rng = rng
        self.currency = currency
        self._scale = 10 ** minor_units(currency) / _HKD_PER_UNIT.get(currency, 7.8)

    def _amount(self, low_hkd: float, high_hkd: float, *, round_to_whole: bool = False) -> int:
        major_hkd = _log_uniform(self.rng, low_hkd, high_hkd)
        minor = max(1, round(major_hkd * self._scale))
        if round_to_whole:
            unit = 10 ** minor_units(self.currency)
            minor = max(unit, minor - minor % unit)
        return minor

    def opening_deposit(self, posted_at: int | None) -> TransactionDraft:
        return TransactionDraft(
            amount_minor=self._amount(1_200_000, 3_000_000, round_to_whole=True),
            direction="CREDIT",
            type="TRANSFER",
            counterparty=Counterparty("Paid-up capital", f"{self.rng.randrange(10**9, 10**10)}"),
            reference="CAPITAL",
            description="Initial deposit",
            posted_at=posted_at,
            transaction_id=_hex_id(self.rng, "txn"),
        )

    def next(self, balance_minor: int, posted_at: int | None, *, force_debit: bool = False) -> TransactionDraft:
        """The next posting; a debit that the balance cannot cover becomes a customer payment instead."""
        if force_debit or self.rng.random() < 0.68:
            draft = self.debit(posted_at)
            if draft.amount_minor <= balance_minor:
                return draft
            if force_debit:
                # Forced (a special receipt must sit on a debit): shrink it to what the account holds.
                return replace(draft, amount_minor=max(1, balance_minor // 10))
        return self.credit(posted_at)

    def credit(self, posted_at: int | None) -> TransactionDraft:
        rng = self.rng
        kind = _weighted(rng, _CREDIT_TYPES)
        if kind == "INTEREST":
            counterparty, reference, description = Counterparty(), "", "Interest credit"
            amount = self._amount(*_RANGES_HKD["INTEREST"])
        elif kind == "FX":
            counterparty = Counterparty("", "")
            reference = f"FX-{rng.randrange(100000, 999999)}"
            description = f"FX conversion from {rng.choice(['USD', 'HKD', 'SGD', 'CNY'])}"
            amount = self._amount(*_RANGES_HKD["FX"])
        elif kind == "CARD":
            merchant = rng.choice(_MERCHANTS["travel"] + _MERCHANTS["software"])
            counterparty, reference, description = Counterparty(merchant, ""), "", "Card refund"
            amount = self._amount(40, 3_000)
        else:
            name, _ = rng.choice(_CUSTOMERS)
            counterparty = Counterparty(name, f"{rng.randrange(10**7, 10**12)}")
            reference = rng.choice([f"INV-{rng.randrange(1000, 99999)}", f"SO-{rng.randrange(10000, 99999)}", ""])
            description = rng.choice(["Customer payment", "Invoice settlement", "Deposit", ""])
            amount = self._amount(*_RANGES_HKD["credit"])
        return TransactionDraft(
            amount_minor=amount,
            direction="CREDIT",
            type=kind,
            counterparty=counterparty,
            reference=reference,
            description=description,
            posted_at=posted_at,
            transaction_id=_hex_id(rng, "txn"),
        )

    def debit(
        self,
        posted_at: int | None,
        *,
        category: str | None = None,
        receipts: Sequence[ReceiptSpec] | None = None,
    ) -> TransactionDraft:
        rng = self.rng
        if category is None:
            kind = _weighted(rng, _DEBIT_TYPES)
            categories = _CATEGORIES_BY_TYPE.get(kind)
            chosen = rng.choice(categories) if categories else None
            # Some outbound payments are left uncategorised by the customer (the contract allows null).
            if kind in ("TRANSFER", "CARD", "DIRECT_DEBIT") and rng.random() < 0.12:
                chosen = None
        else:
            kind = "CARD" if category in _CATEGORIES_BY_TYPE["CARD"] else "TRANSFER"
            chosen = category
        pool = chosen or "other"
        merchant = "" if kind in ("FEE", "FX") else rng.choice(_MERCHANTS[pool])
        if kind == "FX":
            description = f"FX conversion to {rng.choice(['USD', 'HKD', 'SGD', 'CNY'])}"
            amount = self._amount(*_RANGES_HKD["FX"])
        else:
            description = rng.choice(_DESCRIPTIONS[pool]) if rng.random() > 0.08 else ""
            amount = self._amount(*_RANGES_HKD[pool], round_to_whole=pool in ("rent", "payroll"))
        reference = self._reference(kind)
        account_number = f"{rng.randrange(10**6, 10**12)}" if kind in ("TRANSFER", "DIRECT_DEBIT", "PAYROLL") else ""
        if receipts is None:
            receipts = self.receipts_for(chosen, merchant, reference, amount)
        return TransactionDraft(
            amount_minor=amount,
            direction="DEBIT",
            type=kind,
            counterparty=Counterparty(merchant, account_number),
            reference=reference,
            description=description,
            spend_category=chosen,
            receipts=tuple(receipts),
            posted_at=posted_at,
            transaction_id=_hex_id(rng, "txn"),
            attachment_ids=tuple(_hex_id(rng, "att") for _ in receipts),
        )

    def _reference(self, kind: str) -> str:
        rng = self.rng
        if kind == "CARD":
            return f"CARD *{rng.randrange(1000, 9999)}" if rng.random() < 0.5 else ""
        if kind == "FEE":
            return ""
        if kind == "PAYROLL":
            return f"SAL-2026-{rng.randrange(1, 13):02d}"
        if kind == "DIRECT_DEBIT":
            return f"DD-{rng.randrange(100000, 999999)}"
        if kind == "FX":
            return f"FX-{rng.randrange(100000, 999999)}"
        return rng.choice([f"INV-{rng.randrange(1000, 99999)}", f"PO-{rng.randrange(10000, 99999)}", ""])

    def receipts_for(self, category: str | None, merchant: str, reference: str, amount: int) -> list[ReceiptSpec]:
        """Receipts a customer would attach: none on fees and uncategorised payments, usually one or two."""
        rng = self.rng
        if category in (None, "bank_fees") or rng.random() > _RECEIPT_SHARE:
            return []
        if category == "payroll":
            return [self.receipt("csv", label=f"Payroll {reference}", file_name=f"payslips-{reference}.csv")]
        roll = rng.random()
        if roll < _MANY_RECEIPTS_SHARE:
            count = rng.randint(11, 13)
        else:
            count = 1 if roll < 0.72 else 2 if roll < 0.9 else rng.randint(3, 5)
        label = f"{merchant} {reference} {self.currency} {format_money(amount, self.currency)}"
        return [self.receipt(_weighted(rng, _RECEIPT_KINDS), label=label) for _ in range(count)]

    def receipt(
        self,
        kind: str,
        *,
        label: str = "",
        size: int | None = None,
        file_name: str | None = None,
        content_type: str | None = None,
    ) -> ReceiptSpec:
        rng = self.rng
        seed = rng.getrandbits(32)
        if size is None:
            if kind in ("pdf", "jpeg", "png") and rng.random() < _OVERSIZE_SHARE:
                size = rng.randint(XERO_MAX_ATTACHMENT_BYTES + 50_000, 6_500_000)
            else:
                size = round(_log_uniform(rng, *_RECEIPT_SIZES[kind]))
        return generated_spec(
            kind,
            size,
            seed=seed,
            file_name=file_name or self._file_name(kind, seed),
            content_type=content_type,
            label=label,
        )

    def _file_name(self, kind: str, seed: int) -> str:
        number = seed % 10_000
        roll = (seed >> 16) % 20  # from the seed, so file names cost no extra draws
        if kind == "pdf":
            if roll == 0:
                return f"收据-{number:04d}.pdf"  # non-ASCII names happen in Hong Kong and China
            if roll < 4:
                return f"Scan 2026-11-{1 + number % 28:02d} at 10.{number % 60:02d}.pdf"
            return f"invoice-{number:04d}.pdf" if roll < 12 else f"Receipt_{number:04d}.pdf"
        if kind == "jpeg":
            return f"IMG_{number:04d}." + ("JPG" if roll < 6 else "jpeg" if roll < 9 else "jpg")
        if kind == "png":
            return f"Screenshot 2026-11-{1 + number % 28:02d} at 09.{number % 60:02d}.png"
        if kind == "heic":
            return f"IMG_{number:04d}.HEIC"
        if kind == "txt":
            return "receipt.txt" if roll < 10 else "notes.txt"
        return "expense-lines.csv"


# ---------------------------------------------------------------------------------------------- seeding


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    """Where a notable receipt sits, so a test can fetch it without searching."""

    business_id: str
    account_id: str
    transaction_id: str
    attachment_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "business_id": self.business_id,
            "account_id": self.account_id,
            "transaction_id": self.transaction_id,
            "attachment_id": self.attachment_id,
        }


@dataclass
class SeedSummary:
    seed: int
    businesses: list[dict[str, Any]] = field(default_factory=list)
    transactions: int = 0
    attachments: int = 0
    attachments_over_3mb: int = 0
    transactions_over_10_attachments: int = 0
    special: dict[str, AttachmentRef] = field(default_factory=dict)

    @property
    def account_ids(self) -> list[str]:
        return [a["account_id"] for b in self.businesses for a in b["accounts"]]

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "businesses": self.businesses,
            "transactions": self.transactions,
            "attachments": self.attachments,
            "attachments_over_3mb": self.attachments_over_3mb,
            "transactions_over_10_attachments": self.transactions_over_10_attachments,
            "special": {name: ref.to_json() for name, ref in self.special.items()},
        }


def business_plan(seed: int, index: int) -> tuple[Business, list[tuple[str, str]]]:
    """Business ``index`` of a seeded ledger: the first is incorporated in Hong Kong, the others in Singapore."""
    rng = _rng("ledger", seed, "business", index)
    if index == 0:
        name, country, accounts = _HK_NAMES[0], "HK", list(_HK_ACCOUNTS)
    else:
        name = _SG_NAMES[(index - 1) % len(_SG_NAMES)]
        if index > len(_SG_NAMES):
            name = name.replace(" Pte. Ltd.", f" {index} Pte. Ltd.")
        country, accounts = "SG", [*_SG_ACCOUNTS, _SG_THIRD[(index - 1) % 2]]
    return Business(_hex_id(rng, "biz"), name, country), accounts


def seed_ledger(
    state: LedgerState,
    *,
    seed: int,
    businesses: int,
    transactions_per_account: int,
    history_days: int,
    end_at: int,
    emit_events: bool,
) -> tuple[SeedSummary, list[LedgerEvent]]:
    """Add ``businesses`` businesses with their accounts and histories ending at ``end_at``.

    The last business also gets a CLOSED account with a short history. Special receipts go on the first
    Singapore business's first account (Hong Kong businesses cannot sync expenses, so a special receipt
    there would never reach the code that must handle it); the first business's when there is none.
    """
    summary = SeedSummary(seed=seed)
    events: list[LedgerEvent] = []
    start = end_at - history_days * DAY
    with state.lock:
        for index in range(businesses):
            business, plans = business_plan(seed, index)
            state.add_business(business)
            if index == businesses - 1:
                plans = [*plans, ("USD", "USD Legacy")]
            entry: dict[str, Any] = {**business.to_json(), "accounts": []}
            for account_index, (currency, name) in enumerate(plans):
                closed = account_index == len(plans) - 1 and name == "USD Legacy"
                rng = _rng("ledger", seed, "account", index, account_index)
                account = state.add_account(
                    Account(
                        account_id=_hex_id(rng, "acc"),
                        business_id=business.business_id,
                        currency=currency,
                        account_number=f"{rng.randrange(10**9, 10**12)}",
                        name=name,
                        status="ACTIVE",
                        opened_at=start - rng.randint(1, 60) * DAY,
                    )
                )
                count = max(2, transactions_per_account // 20) if closed else transactions_per_account
                specials_here = (
                    account_index == 0
                    and not summary.special
                    and (business.incorporation_country == "SG" or index == businesses - 1)
                )
                gen = PostingGenerator(rng, currency)
                account_events = _seed_history(
                    state, gen, account, count, (start, end_at), emit_events, summary, with_specials=specials_here
                )
                events.extend(account_events)
                if closed:
                    account = state.set_account_status(account.account_id, "CLOSED")
                entry["accounts"].append(
                    {
                        **account.to_json(),
                        "transactions": state.transaction_count(account.account_id),
                        "closing_balance": format_money(state.balance(account.account_id), currency),
                    }
                )
            summary.businesses.append(entry)
    return summary, events


def _seed_history(
    state: LedgerState,
    gen: PostingGenerator,
    account: Account,
    count: int,
    period: tuple[int, int],
    emit_events: bool,
    summary: SeedSummary,
    *,
    with_specials: bool,
) -> list[LedgerEvent]:
    """Post ``count`` transactions within ``period``, the special receipts near the end when asked."""
    if count <= 0:
        return []
    start, end = period
    times = sorted(gen.rng.randint(start, end) for _ in range(count - 1))
    specials = _special_plan(gen, count) if with_specials and count >= SPECIALS_MIN_POSTINGS else {}
    events: list[LedgerEvent] = []
    txn, posted = state.post(account.account_id, gen.opening_deposit(start), emit=emit_events)
    events.extend(posted)
    _tally(summary, txn)
    for position, posted_at in enumerate(times, start=2):
        special = specials.get(position)
        if special is not None:
            _, category, receipts = special
            draft = gen.debit(posted_at, category=category, receipts=receipts)
            if draft.amount_minor > state.balance(account.account_id):
                draft = replace(draft, amount_minor=100)
        else:
            draft = gen.next(state.balance(account.account_id), posted_at)
        txn, posted = state.post(account.account_id, draft, emit=emit_events)
        events.extend(posted)
        _tally(summary, txn)
        if special is not None:
            summary.special[special[0]] = _special_ref(special[0], txn)
    return events


def _tally(summary: SeedSummary, txn: Transaction) -> None:
    summary.transactions += 1
    summary.attachments += len(txn.attachments)
    summary.attachments_over_3mb += sum(1 for a in txn.attachments if a.size_bytes > XERO_MAX_ATTACHMENT_BYTES)
    if len(txn.attachments) > 10:
        summary.transactions_over_10_attachments += 1


# The notable receipts a seeded ledger always contains, by the name the summary reports them under.
SPECIAL_RECEIPTS: tuple[str, ...] = (
    "executable_disguised_as_pdf",
    "empty_file",
    "path_in_file_name",
    "more_than_10_receipts",
    "exactly_10_receipts",
    "over_3mb",
    "at_3mib_boundary",
)


def _special_plan(gen: PostingGenerator, count: int) -> dict[int, tuple[str, str, list[ReceiptSpec]]]:
    """Positions (sequences) near the end of the history, each with its forced receipts.

    Near the end because a product's first sync usually starts from recent postings.
    """
    r = gen.receipt
    receipts: dict[str, list[ReceiptSpec]] = {
        "executable_disguised_as_pdf": [r("exe", size=48_128, file_name="invoice-2231.pdf")],
        "empty_file": [r("empty", size=0, file_name="scan.pdf")],
        "path_in_file_name": [r("pdf", size=21_500, file_name="../../etc/passwd.pdf")],
        "more_than_10_receipts": [r("pdf" if i % 2 else "jpeg", size=15_000 + 1_000 * i) for i in range(12)],
        "exactly_10_receipts": [r("pdf", size=12_000 + 500 * i) for i in range(10)],
        "over_3mb": [r("jpeg", size=4_500_000, file_name="IMG_0042.JPG"), r("pdf", size=80_000)],
        # Xero's "3MB": one receipt a byte under 3 MiB, one exactly 3 MiB.
        "at_3mib_boundary": [
            r("pdf", size=XERO_MAX_ATTACHMENT_BYTES - 1, file_name="statement-just-under.pdf"),
            r("pdf", size=XERO_MAX_ATTACHMENT_BYTES, file_name="statement-exactly-3mib.pdf"),
        ],
    }
    categories = ("office_supplies", "professional_services", "travel", "other", "software", "entertainment", "rent")
    return {count - 3 * (i + 1): (name, categories[i], receipts[name]) for i, name in enumerate(SPECIAL_RECEIPTS)}


def _special_ref(name: str, txn: Transaction) -> AttachmentRef:
    # One receipt stands for the special where it is a single file; the transaction where it is the count.
    single = name in ("executable_disguised_as_pdf", "empty_file", "path_in_file_name", "over_3mb")
    return AttachmentRef(
        business_id=txn.business_id,
        account_id=txn.account_id,
        transaction_id=txn.transaction_id,
        attachment_id=txn.attachments[0].attachment_id if single else None,
    )


def ongoing_generator(account: Account, next_sequence: int, seed: int | None) -> PostingGenerator:
    """The generator for postings made "now" on an existing account; deterministic from the account's state."""
    return PostingGenerator(_rng("ledger", "live", account.account_id, next_sequence, seed), account.currency)


# ---------------------------------------------------------------------------------------------- people's coding
# How a business's bookkeeper codes expenses in Xero: a habit per payee that the product never sees, only learns
# from what was synced (benchmarks/suggestions.py replays it). Accounts by the emulator's default chart
# (emulators/xero/seed.py): (code, tax type) choices per spend category, the mapping's choice first.
_CODING_BY_CATEGORY: dict[str | None, tuple[tuple[str, str], ...]] = {
    "advertising": (("400", "INPUT"), ("429", "INPUT")),
    "entertainment": (("420", "NONE"), ("429", "INPUT")),
    "office_supplies": (("429", "INPUT"), ("400", "INPUT")),
    "professional_services": (("429", "INPUT"), ("404", "NONE")),
    "rent": (("429", "INPUT"), ("429", "NONE")),
    "software": (("429", "INPUT"), ("400", "INPUT")),
    "travel": (("493", "INPUT"), ("494", "NONE"), ("420", "NONE")),
    "utilities": (("429", "INPUT"), ("429", "NONE")),
    "payroll": (("429", "NONE"),),
    "bank_fees": (("404", "NONE"),),
    "other": (("429", "INPUT"), ("420", "NONE"), ("400", "INPUT")),
    None: (("429", "INPUT"), ("420", "NONE")),
}
# Card schemes and wallets that put their own name before the merchant's on a statement.
_PROCESSOR_SPELLINGS = ("SQ *{}", "PAYPAL *{}", "GRAB*{}", "{} PTE. LTD.", "{}  ", "{} LIMITED")


def mapping_coding(category: str | None) -> tuple[str, str]:
    """What the category mapping gives an expense of this category (account code, the account's tax type)."""
    return _CODING_BY_CATEGORY.get(category, _CODING_BY_CATEGORY[None])[0]


@dataclass
class Bookkeeper:
    """One business's bookkeeper: each payee has a habitual coding (often not the mapping's); some payees are
    coded by amount (two codings, no single habit); a share of expenses are one-off exceptions; halfway through,
    a few payees are recoded for good. Deterministic from ``seed``."""

    seed: int
    exception_share: float = 0.03
    split_share: float = 0.15
    recoded_share: float = 0.1
    _habits: dict[str, tuple[tuple[str, str], tuple[str, str] | None, float]] = field(default_factory=dict)

    def _habit(self, payee: str, category: str | None) -> tuple[tuple[str, str], tuple[str, str] | None, float]:
        if payee not in self._habits:
            rng = _rng("bookkeeper", self.seed, payee)
            choices = _CODING_BY_CATEGORY.get(category, _CODING_BY_CATEGORY[None])
            usual = rng.choice(choices)
            split = rng.choice(choices) if rng.random() < self.split_share else None
            self._habits[payee] = (usual, split if split != usual else None, _log_uniform(rng, 50, 5_000))
        return self._habits[payee]

    def coding(self, payee: str, category: str | None, amount: float, position: float, key: str) -> tuple[str, str]:
        """The (account code, tax type) this person gives the expense; ``position`` is 0..1 through the history."""
        usual, split, threshold = self._habit(payee, category)
        rng = _rng("bookkeeper", self.seed, payee, key)
        if split is not None and amount > threshold:
            usual = split
        if position > 0.5 and _rng("bookkeeper", self.seed, payee, "recoded").random() < self.recoded_share:
            choices = _CODING_BY_CATEGORY.get(category, _CODING_BY_CATEGORY[None])
            usual = choices[(choices.index(usual) + 1) % len(choices)] if usual in choices else usual
        if rng.random() < self.exception_share:
            return rng.choice([c for _, choices in _CODING_BY_CATEGORY.items() for c in choices])
        return usual


def statement_spelling(merchant: str, key: str, seed: int, share: float = 0.3) -> str:
    """The merchant as a card statement may spell it (a processor's prefix, capitals, a legal form), for
    ``share`` of payments; the plain name otherwise."""
    rng = _rng("spelling", seed, key)
    if not merchant or rng.random() >= share:
        return merchant
    spelled = rng.choice(_PROCESSOR_SPELLINGS).format(merchant)
    return spelled.upper() if rng.random() < 0.5 else spelled
