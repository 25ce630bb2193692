"""The soak's world, drawn from a seed: organisations, businesses and their bank accounts, and everything that
happens to them over the days (postings, changes in the bank, what the users do, what breaks).

The plan is pure data: the same seed and size give the same plan, event for event, id for id. The driver
plays it on the virtual clock (``driver.py``); the auditor reads the world it left (``audit.py``).
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

DAY = 86_400.0
HOUR = 3_600.0
# 2026-03-01 00:00 UTC: the world's first day (a fixed moment, so that a seed gives the same dates every time).
WORLD_START = 1_772_323_200.0
HISTORY_DAYS = 5  # each account's postings before the first day (the history its link sends)
BOOKING_DAY_ENDS_UTC_HOUR = 16  # midnight in Hong Kong and Singapore (UTC+8): the bank's booking day turns

CURRENCIES = ("HKD", "SGD", "USD", "CNY")
# Most categories are mapped to a Xero account by the business; "other" is not, so its payments end in a Sync
# error with a reason, which the user fixes by choosing an account on the expense.
MAPPED_CATEGORIES = {"advertising": "400", "bank_fees": "404", "entertainment": "420", "office_supplies": "429",
                     "professional_services": "429", "rent": "429", "software": "429", "travel": "493",
                     "utilities": "429", "payroll": "429"}
FIX_ACCOUNT_CODE = "429"  # General Expenses: what a user chooses for a payment whose category has no account
DEBIT_TYPES = (("CARD", 0.35), ("TRANSFER", 0.3), ("DIRECT_DEBIT", 0.15), ("FEE", 0.1), ("FX", 0.05),
               ("PAYROLL", 0.05))
CATEGORY_OF_TYPE: dict[str, list[str | None]] = {"FEE": ["bank_fees"], "PAYROLL": ["payroll"], "FX": [None],
                    "CARD": ["travel", "software", "entertainment", "office_supplies", "other", None],
                    "TRANSFER": ["rent", "professional_services", "advertising", "utilities", "other", None],
                    "DIRECT_DEBIT": ["utilities", "software", "rent"]}
PAYEES = ("Harbour Taxi", "Pacific Office Supplies", "Lantau Catering", "Kowloon Print Co", "Marina Bay Rent",
          "Cloudline Software", "Victoria Utilities", "Orchard Legal LLP", "Shenzhen Parts Ltd", "Jade Travel")


@dataclass(frozen=True)
class WorldSize:
    businesses: int = 50
    organisations: int = 20
    days: int = 30
    postings_per_account_day: float = 1.2
    hong_kong_share: float = 0.2

    @classmethod
    def short(cls) -> WorldSize:
        return cls(businesses=6, organisations=3, days=3, postings_per_account_day=2.0)

    @classmethod
    def ci(cls) -> WorldSize:
        """What CI runs after the tests: every kind of event and fault, on a world a minute or two can play."""
        return cls(businesses=3, organisations=2, days=2, postings_per_account_day=2.0)


@dataclass(frozen=True)
class Organisation:
    tenant_id: str
    name: str
    base_currency: str


@dataclass(frozen=True)
class Account:
    account_id: str
    currency: str
    number: str
    name: str
    opened_at: float


@dataclass
class Business:
    business_id: str
    country: str  # HK: bank feeds only (Sync expenses is not available to Hong Kong-incorporated businesses)
    legal_name: str
    tenant_id: str
    user_id: str
    xero_user: str
    accounts: list[Account] = field(default_factory=list)

    @property
    def syncs_expenses(self) -> bool:
        return self.country != "HK"


@dataclass(frozen=True)
class Receipt:
    kind: str  # pdf, jpeg, png, exe (refused: a program), empty (refused), or a pdf over the size limit
    size: int
    seed: int
    file_name: str | None = None


@dataclass(frozen=True)
class Event:
    at: float
    kind: str
    business_id: str | None = None
    args: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass
class World:
    seed: int
    size: WorldSize
    start: float
    end: float  # the last planned event's day ends here; the world then runs on, without faults, until quiet
    organisations: list[Organisation]
    businesses: list[Business]
    events: list[Event]

    def business(self, business_id: str) -> Business:
        return next(b for b in self.businesses if b.business_id == business_id)

    def digest(self) -> str:
        """A fingerprint of the world (organisations, businesses, every planned event and its moment): the same
        seed and size give the same digest in any process, whatever its hash seed or thread timing."""
        body = repr((self.seed, self.start, self.end, self.organisations, self.businesses, self.events))
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def describe(self) -> str:
        accounts = sum(len(b.accounts) for b in self.businesses)
        shared = sum(1 for o in self.organisations
                     if sum(1 for b in self.businesses if b.tenant_id == o.tenant_id) > 1)
        hong_kong = sum(1 for b in self.businesses if b.country == "HK")
        postings = sum(1 for e in self.events if e.kind == "post")
        return (f"{len(self.businesses)} businesses ({hong_kong} incorporated in Hong Kong) on "
                f"{len(self.organisations)} Xero organisations ({shared} shared), {accounts} bank accounts, "
                f"{self.size.days} days, {postings} postings planned")


def plan(seed: int, size: WorldSize) -> World:
    rng = random.Random(seed)

    def ident(prefix: str) -> str:
        return f"{prefix}_{rng.getrandbits(64):016x}"

    organisations = [Organisation(tenant_id=str(uuid.UUID(int=rng.getrandbits(128))), name=f"Soak Org {n:02d}",
                                  base_currency=rng.choice(CURRENCIES)) for n in range(size.organisations)]
    businesses: list[Business] = []
    for n in range(size.businesses):
        # The first of them have an organisation each; the rest join one, so some are shared by several.
        organisation = organisations[n] if n < len(organisations) else rng.choice(organisations)
        country = "HK" if rng.random() < size.hong_kong_share else "SG"
        business = Business(business_id=ident("biz"), country=country, legal_name=f"Soak Trading {n:02d}",
                            tenant_id=organisation.tenant_id, user_id=f"u_fin_{n:02d}",
                            xero_user=f"finance{n:02d}@soak.example")
        others = [c for c in CURRENCIES if c != organisation.base_currency]
        currencies = [organisation.base_currency, *rng.sample(others, rng.randint(1, 3))]
        for currency in currencies:
            number = f"{rng.randrange(10**9, 10**10)}"
            business.accounts.append(Account(account_id=ident("acc"), currency=currency, number=number,
                                             name=f"{currency} {number[-4:]}",
                                             opened_at=WORLD_START - HISTORY_DAYS * DAY))
        businesses.append(business)

    end = WORLD_START + size.days * DAY
    events: list[Event] = []
    for business in businesses:
        connect_at = WORLD_START + rng.uniform(0, 6 * HOUR)
        events.append(Event(connect_at, "connect", business.business_id))
        for account in business.accounts:
            events.extend(_postings(rng, business, account, size, end))
        events.extend(_user_habits(rng, business, connect_at, end))
    events.extend(_breakages(rng, organisations, businesses, end))
    events.sort(key=lambda e: e.at)
    return World(seed=seed, size=size, start=WORLD_START, end=end, organisations=organisations,
                 businesses=businesses, events=events)


def _postings(rng: random.Random, business: Business, account: Account, size: WorldSize, end: float
              ) -> list[Event]:
    """The account's postings: a history before the first day, then every day, at all hours (some right before
    the booking day turns, some just after a sync window), with receipts, later recategorisations and receipts
    added or replaced."""
    events: list[Event] = []
    first = account.opened_at + 60
    events.append(_posting(rng, business, account, first, direction="CREDIT", amount=f"{rng.randint(40, 90)}000.00"))
    span = end - first
    count = max(1, int(size.postings_per_account_day * span / DAY))
    for _ in range(count):
        at = first + rng.uniform(60, span)
        if rng.random() < 0.1:  # right before midnight in the bank's booking day
            at = at - at % DAY + BOOKING_DAY_ENDS_UTC_HOUR * HOUR - rng.uniform(1, 120)
        elif rng.random() < 0.1:  # right after a 3-hour sync window began
            at = at - at % (3 * HOUR) + rng.uniform(1, 120)
        at = min(max(at, first + 1), end - 60)
        posting = _posting(rng, business, account, at)
        events.append(posting)
        if posting.args["direction"] == "DEBIT" and at > WORLD_START:
            if rng.random() < 0.06:
                events.append(Event(at + rng.uniform(HOUR, 2 * DAY), "recategorise", business.business_id,
                                    {"account_id": account.account_id, "transaction_id": posting.args["transaction_id"],
                                     "category": rng.choice(list(MAPPED_CATEGORIES))}))
            if rng.random() < 0.05:
                change = "replace_receipt" if posting.args["receipts"] and rng.random() < 0.5 else "add_receipt"
                events.append(Event(at + rng.uniform(HOUR, 2 * DAY), change, business.business_id,
                                    {"account_id": account.account_id, "transaction_id": posting.args["transaction_id"],
                                     "receipt": _receipt(rng)}))
    return [e for e in events if e.at < end]


def _posting(rng: random.Random, business: Business, account: Account, at: float, *, direction: str | None = None,
             amount: str | None = None) -> Event:
    direction = direction or ("DEBIT" if rng.random() < 0.65 else "CREDIT")
    if direction == "DEBIT":
        kind = rng.choices([t for t, _ in DEBIT_TYPES], [w for _, w in DEBIT_TYPES])[0]
        category: str | None = rng.choice(CATEGORY_OF_TYPE[kind])
        receipts = [_receipt(rng) for _ in range(rng.choice((1, 1, 1, 2, 3)))] \
            if category and kind != "FEE" and rng.random() < 0.45 else []
        payee = "" if kind in ("FEE", "FX") else rng.choice(PAYEES)
    else:
        kind, category, receipts, payee = rng.choice(("TRANSFER", "INTEREST", "FX")), None, [], rng.choice(PAYEES)
    return Event(at, "post", business.business_id, {
        "account_id": account.account_id, "transaction_id": f"txn_{rng.getrandbits(80):020x}",
        "direction": direction, "amount": amount or f"{rng.randint(5, 2500)}.{rng.randint(0, 99):02d}",
        "type": kind, "category": category, "payee": payee, "reference": f"REF-{rng.randint(1000, 9999)}",
        "description": rng.choice(("", "Monthly charge", "Client lunch", "Taxi to airport", "Printer toner")),
        "receipts": receipts})


def _receipt(rng: random.Random) -> Receipt:
    seed = rng.getrandbits(30)
    roll = rng.random()
    if roll < 0.02:
        return Receipt("pdf", 3_100_000, seed)  # over Xero's limit: refused before a byte is read
    if roll < 0.03:
        return Receipt("exe", 20_000, seed, file_name=f"invoice-{seed % 1000}.pdf")  # a program named .pdf
    if roll < 0.035:
        return Receipt("empty", 0, seed)
    kind = rng.choice(("pdf", "pdf", "jpeg", "png"))
    return Receipt(kind, rng.randint(2_000, 40_000), seed)


def _user_habits(rng: random.Random, business: Business, connected_at: float, end: float) -> list[Event]:
    """What the business's users do: look at the Xero page most days, sync now now and then, and (outside Hong
    Kong) sync their expenses in bulk every few days (sometimes with a double click) and edit some."""
    events: list[Event] = []
    day = connected_at + DAY
    while day < end:
        if rng.random() < 0.8:
            events.append(Event(day + rng.uniform(0, 10 * HOUR), "look", business.business_id))
        if rng.random() < 0.4:
            events.append(Event(day + rng.uniform(0, 20 * HOUR), "sync_now", business.business_id))
        day += DAY
    if business.syncs_expenses:
        at = connected_at + rng.uniform(1, 3) * DAY
        while at < end:
            events.append(Event(at, "sync_expenses", business.business_id, {"double_click": rng.random() < 0.15}))
            if rng.random() < 0.5:
                events.append(Event(at + rng.uniform(HOUR, DAY), "edit_expenses", business.business_id))
            at += rng.uniform(2, 5) * DAY
    return events


def _breakages(rng: random.Random, organisations: list[Organisation], businesses: list[Business], end: float
               ) -> list[Event]:
    """What breaks besides the per-call faults: disconnect and reconnect cycles from both sides, refresh tokens
    Xero refuses, bank accounts deleted in Xero, outages of a Xero organisation and of the ledger, and token
    refreshes forced on every client."""
    events: list[Event] = []
    span = end - WORLD_START

    def some_time() -> float:
        return WORLD_START + rng.uniform(0.15, 0.85) * span

    cycles = max(1, len(businesses) // 15)
    for business in rng.sample(businesses, min(len(businesses), cycles)):
        at = some_time()
        events.append(Event(at, "disconnect_bank", business.business_id))
        events.append(Event(at + rng.uniform(HOUR, 8 * HOUR), "reconnect", business.business_id))
    for organisation in rng.sample(organisations, min(len(organisations), max(1, cycles - 1))):
        events.append(Event(some_time(), "disconnect_xero", args={"tenant_id": organisation.tenant_id}))
    for _ in range(max(1, cycles - 1)):
        events.append(Event(some_time(), "invalid_grant"))
    for business in rng.sample(businesses, min(len(businesses), max(1, cycles - 1))):
        account = rng.choice(business.accounts)
        events.append(Event(some_time(), "delete_xero_bank", business.business_id, {"account_id": account.account_id}))
    for organisation in rng.sample(organisations, min(len(organisations), max(1, cycles))):
        at = some_time()
        events.append(Event(at, "xero_outage", args={"tenant_id": organisation.tenant_id,
                                                     "until": at + rng.uniform(2, 4) * HOUR}))
    at = some_time()
    events.append(Event(at, "ledger_outage", args={"until": at + rng.uniform(0.5, 1.5) * HOUR}))
    for _ in range(3):
        events.append(Event(some_time(), "expire_tokens"))
    return events


# Events that are not about one business or organisation: a fault of Xero's token endpoint (the next refresh
# meets it, whoever makes it) goes to one group; the ledger's outage and the forced token refreshes happen to
# every group (one ledger, every client), as they would to the whole world.
EVERY_GROUP = frozenset({"ledger_outage", "expire_tokens"})


def split(world: World, parts: int) -> list[World]:
    """The world as ``parts`` smaller worlds, each with whole organisations (and the businesses on them), to be
    played one process each: organisations share nothing (a business is on one organisation; the product keeps
    no state across organisations), so the groups' runs together are the world's run. Organisations go to the
    group with the fewest postings so far, the busiest first, so the groups take about as long; the same world
    and ``parts`` give the same groups."""
    parts = max(1, min(parts, len(world.organisations)))
    if parts == 1:
        return [world]
    postings: dict[str, int] = {o.tenant_id: 0 for o in world.organisations}
    tenant_of = {b.business_id: b.tenant_id for b in world.businesses}
    for event in world.events:
        if event.kind == "post" and event.business_id:
            postings[tenant_of[event.business_id]] += 1
    load = [0] * parts
    group_of: dict[str, int] = {}
    order = sorted(range(len(world.organisations)),
                   key=lambda n: (-postings[world.organisations[n].tenant_id], n))
    for n in order:
        tenant = world.organisations[n].tenant_id
        group = min(range(parts), key=lambda g: (load[g], g))
        group_of[tenant] = group
        load[group] += postings[tenant] + 1
    events: list[list[Event]] = [[] for _ in range(parts)]
    unowned = 0
    for event in world.events:
        if event.business_id:
            events[group_of[tenant_of[event.business_id]]].append(event)
        elif "tenant_id" in event.args:
            events[group_of[event.args["tenant_id"]]].append(event)
        elif event.kind in EVERY_GROUP:
            for held in events:
                held.append(event)
        else:
            events[unowned % parts].append(event)
            unowned += 1
    return [World(seed=world.seed, size=world.size, start=world.start, end=world.end,
                  organisations=[o for o in world.organisations if group_of[o.tenant_id] == g],
                  businesses=[b for b in world.businesses if group_of[b.tenant_id] == g],
                  events=events[g])
            for g in range(parts)]
