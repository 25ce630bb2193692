"""The control surface over HTTP (``/_ledger/...``): the emulator's Python control methods as JSON, for tests
and the local stack that run the ledger in another process. Not part of the contract.
"""

from __future__ import annotations

import base64
import binascii
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from emulators.chance import Occurrences, chance, draw
from emulators.ledger.models import Counterparty, ReceiptSpec, invalid, parse_time
from emulators.ledger.receipts import generated_spec, uploaded_spec
from emulators.ledger.state import UNSET, TransactionChanges, Unset

if TYPE_CHECKING:
    from emulators.ledger.emulator import LedgerEmulator


# ---------------------------------------------------------------------------------------------- faults


@dataclass
class _Fault:
    status: int
    remaining: int | None  # None: no limit
    path_contains: str | None
    probability: float | None = None
    seed: int = 0
    slow_s: float | None = None  # a slow page: answered normally, this many real seconds late
    fired: int = 0
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "remaining": self.remaining, "path_contains": self.path_contains,
                "probability": self.probability, "slow_s": self.slow_s, "fired": self.fired}


@dataclass(frozen=True)
class FaultDecision:
    """What happens to one contract request: a 5xx ``status``, or a ``delay`` before the normal answer."""

    status: int | None = None
    delay: float = 0.0


class FaultInjector:
    """Makes contract requests (optionally only paths containing a string) fail with a 5xx, or answer slowly:
    the next ``count`` of them, or each with ``probability`` (drawn from ``seed`` and the request, so a seed gives
    a request the same fate whatever order concurrent requests arrive in; ``emulators.chance``). Every firing is
    counted, per fault and in total.

    The contract allows 5xx answers; a product's retry logic needs a ledger that gives them on demand.
    """

    def __init__(self) -> None:
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._occurrences = Occurrences()
        self.fired_total = 0

    def add(self, status: int = 503, count: int | None = 1, path_contains: str | None = None, *,
            probability: float | None = None, seed: int = 0, slow_s: float | None = None) -> str:
        if slow_s is None and not 500 <= status <= 599:
            raise invalid("An injected fault is a 5xx status.")
        if count is not None and count < 1:
            raise invalid("count must be 1 or more.")
        if count is None and probability is None:
            raise invalid("A fault without a count needs a probability.")
        if probability is not None and not 0 < probability <= 1:
            raise invalid("probability must be above 0 and at most 1.")
        if slow_s is not None and not 0 < slow_s <= 60:
            raise invalid("slow_s must be above 0 and at most 60 seconds.")
        fault = _Fault(status, count, path_contains, probability, seed, slow_s)
        with self._lock:
            self._faults.append(fault)
        return fault.id

    def remove(self, fault_id: str) -> bool:
        with self._lock:
            before = len(self._faults)
            self._faults = [f for f in self._faults if f.id != fault_id]
            return len(self._faults) != before

    def take(self, path: str, identity: str = "") -> FaultDecision | None:
        """What to do with a request for ``path`` (``identity``: its query), counting the firing; None: answer."""
        with self._lock:
            for fault in self._faults:
                if fault.path_contains is not None and fault.path_contains not in path:
                    continue
                if fault.probability is not None and draw(fault.seed, self._occurrences, fault.status,
                                                          fault.slow_s, path, identity) >= fault.probability:
                    continue
                fault.fired += 1
                self.fired_total += 1
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                if fault.slow_s is not None:
                    return FaultDecision(delay=fault.slow_s)
                return FaultDecision(status=fault.status)
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.fired_total = 0
        self._occurrences.clear()

    @property
    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_json() for f in self._faults]


class EventFaults:
    """What EventBridge delivery does to the ledger's events (the contract: at least once, in any order): each
    event is lost, duplicated or delayed (published after events that came later) with its probability, drawn
    from ``seed`` and the event (transaction, version, type). Counted per kind."""

    def __init__(self) -> None:
        self.lose = self.duplicate = self.delay = 0.0
        self.seed = 0
        self.counts = {"lost": 0, "duplicated": 0, "delayed": 0}
        self._held: list[tuple[int, Any]] = []  # (publishes still to wait, event)
        self._occurrences = Occurrences()
        self._lock = threading.Lock()

    def configure(self, *, lose: float = 0.0, duplicate: float = 0.0, delay: float = 0.0, seed: int = 0) -> None:
        for name, value in (("lose", lose), ("duplicate", duplicate), ("delay", delay)):
            if not 0 <= value <= 1:
                raise invalid(f"{name} must be between 0 and 1.")
        with self._lock:
            self.lose, self.duplicate, self.delay, self.seed = lose, duplicate, delay, seed

    def apply(self, events: list[Any]) -> list[Any]:
        """The events to publish now, in the order EventBridge would deliver them."""
        out: list[Any] = []
        with self._lock:
            due = [event for wait, event in self._held if wait <= 1]
            self._held = [(wait - 1, event) for wait, event in self._held if wait > 1]
            for event in events:
                identity = (event.detail.get("transaction_id"), event.detail.get("version"), event.detail_type)
                roll = draw(self.seed, self._occurrences, *identity)
                if roll < self.lose:
                    self.counts["lost"] += 1
                elif roll < self.lose + self.delay:
                    self.counts["delayed"] += 1
                    self._held.append((1 + int(chance(self.seed, "hold", *identity) * 5), event))
                elif roll < self.lose + self.delay + self.duplicate:
                    self.counts["duplicated"] += 1
                    out.extend([event, event])
                else:
                    out.append(event)
            out.extend(due)  # after newer ones: out of order
        return out

    def release(self) -> list[Any]:
        """Every event still held back, to publish now."""
        with self._lock:
            held = [event for _, event in self._held]
            self._held.clear()
        return held

    def clear(self) -> None:
        with self._lock:
            self.lose = self.duplicate = self.delay = 0.0
            self.seed = 0
            self.counts = {"lost": 0, "duplicated": 0, "delayed": 0}
            self._held.clear()
        self._occurrences.clear()

    def as_json(self) -> dict[str, Any]:
        with self._lock:
            return {"lose": self.lose, "duplicate": self.duplicate, "delay": self.delay, "seed": self.seed,
                    "counts": dict(self.counts), "held": len(self._held)}


# ---------------------------------------------------------------------------------------------- bodies


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReceiptIn(_Body):
    """Either uploaded bytes (``content_base64``) or a generated file (``kind`` + ``size_bytes``)."""

    file_name: StrictStr | None = None
    content_type: StrictStr | None = None
    content_base64: StrictStr | None = None
    kind: StrictStr | None = None
    size_bytes: StrictInt | None = Field(default=None, ge=0, le=64 * 1024 * 1024)
    seed: StrictInt = 0
    label: StrictStr = ""

    def to_spec(self) -> ReceiptSpec:
        if self.content_base64 is not None:
            if self.kind is not None or self.size_bytes is not None:
                raise invalid("Send content_base64, or kind and size_bytes, not both.")
            if self.file_name is None or self.content_type is None:
                raise invalid("An uploaded receipt needs file_name and content_type.")
            try:
                content = base64.b64decode(self.content_base64, validate=True)
            except binascii.Error:
                raise invalid("content_base64 is not valid base64.") from None
            return uploaded_spec(self.file_name, content, self.content_type)
        if self.kind is None or self.size_bytes is None:
            raise invalid("A receipt needs content_base64, or kind and size_bytes.")
        return generated_spec(
            self.kind,
            self.size_bytes,
            seed=self.seed,
            file_name=self.file_name,
            content_type=self.content_type,
            label=self.label,
        )


class BusinessIn(_Body):
    incorporation_country: StrictStr
    legal_name: StrictStr | None = None
    business_id: StrictStr | None = None


class AccountIn(_Body):
    currency: StrictStr
    name: StrictStr | None = None
    account_number: StrictStr | None = None
    status: StrictStr = "ACTIVE"
    opened_at: StrictStr | None = None
    account_id: StrictStr | None = None


class AccountPatch(_Body):
    status: StrictStr


class CounterpartyIn(_Body):
    name: StrictStr = ""
    account_number: StrictStr = ""


class TransactionIn(_Body):
    # A string or an integer, never a float (the contract's money is a decimal string).
    amount: StrictStr | StrictInt
    direction: StrictStr
    type: StrictStr = "TRANSFER"
    counterparty: CounterpartyIn = Field(default_factory=CounterpartyIn)
    reference: StrictStr = ""
    description: StrictStr = ""
    spend_category: StrictStr | None = None
    attachments: list[ReceiptIn] = Field(default_factory=list)
    posted_at: StrictStr | None = None
    transaction_id: StrictStr | None = None


class GenerateIn(_Body):
    count: StrictInt = Field(default=1, ge=1, le=10_000)
    seed: StrictInt | None = None


class TransactionPatch(_Body):
    # Absent and null differ for spend_category: null uncategorises, absent leaves it alone.
    spend_category: StrictStr | None = None
    description: StrictStr | None = None
    add_attachments: list[ReceiptIn] = Field(default_factory=list)
    remove_attachment_ids: list[StrictStr] = Field(default_factory=list)
    replace_attachments: dict[str, ReceiptIn] = Field(default_factory=dict)

    def to_changes(self) -> TransactionChanges:
        category: str | Unset | None = self.spend_category if "spend_category" in self.model_fields_set else UNSET
        if "description" in self.model_fields_set and self.description is None:
            raise invalid("description is a string (possibly empty), never null.")
        return TransactionChanges(
            spend_category=category,
            description=self.description if self.description is not None else UNSET,
            add_attachments=tuple(r.to_spec() for r in self.add_attachments),
            remove_attachment_ids=tuple(self.remove_attachment_ids),
            replace_attachments=tuple((k, v.to_spec()) for k, v in self.replace_attachments.items()),
        )


class SeedIn(_Body):
    seed: StrictInt = 7
    businesses: StrictInt = Field(default=3, ge=1, le=50)
    transactions_per_account: StrictInt = Field(default=2000, ge=0, le=50_000)
    history_days: StrictInt = Field(default=365, ge=1, le=3650)
    end_at: StrictStr | None = None
    emit_events: bool = False


class FaultIn(_Body):
    status: StrictInt = 503
    count: StrictInt | None = 1
    path_contains: StrictStr | None = None
    probability: float | None = None
    seed: StrictInt = 0
    slow_s: float | None = None


class EventFaultsIn(_Body):
    lose: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    seed: StrictInt = 0


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True) if request.data else {}
    if not isinstance(data, dict):
        raise invalid("The body must be a JSON object.")
    return data


def _created(payload: Any) -> Response:
    response = jsonify(payload)
    response.status_code = 201
    return response


# ---------------------------------------------------------------------------------------------- routes


def control_blueprint(emulator: LedgerEmulator) -> Blueprint:
    bp = Blueprint("ledger_control", __name__, url_prefix="/_ledger")
    state = emulator.state

    @bp.post("/reset")
    def reset() -> Response:
        emulator.reset()
        return jsonify({"reset": True})

    @bp.get("/businesses")
    def list_businesses() -> Response:
        return jsonify(
            {
                "businesses": [
                    {**b.to_json(), "accounts": [a.to_json() for a in state.list_accounts(b.business_id)]}
                    for b in state.list_businesses()
                ]
            }
        )

    @bp.post("/businesses")
    def create_business() -> Response:
        body = BusinessIn.model_validate(_body())
        business = emulator.create_business(body.incorporation_country, body.legal_name, business_id=body.business_id)
        return _created(business.to_json())

    @bp.post("/businesses/<business_id>/accounts")
    def create_account(business_id: str) -> Response:
        body = AccountIn.model_validate(_body())
        account = emulator.create_account(
            business_id,
            body.currency,
            name=body.name,
            account_number=body.account_number,
            status=body.status,
            opened_at=parse_time(body.opened_at) if body.opened_at else None,
            account_id=body.account_id,
        )
        return _created(account.to_json())

    @bp.get("/accounts/<account_id>")
    def account_state(account_id: str) -> Response:
        account = state.get_account(account_id)
        return jsonify(
            {
                **account.to_json(),
                "balance": emulator.balance(account_id),
                "transaction_count": state.transaction_count(account_id),
            }
        )

    @bp.patch("/accounts/<account_id>")
    def patch_account(account_id: str) -> Response:
        body = AccountPatch.model_validate(_body())
        return jsonify(emulator.set_account_status(account_id, body.status).to_json())

    @bp.post("/accounts/<account_id>/transactions")
    def post_transaction(account_id: str) -> Response:
        body = TransactionIn.model_validate(_body())
        txn = emulator.post_transaction(
            account_id,
            body.amount,
            body.direction,
            type=body.type,
            counterparty=Counterparty(body.counterparty.name, body.counterparty.account_number),
            reference=body.reference,
            description=body.description,
            spend_category=body.spend_category,
            attachments=[r.to_spec() for r in body.attachments],
            posted_at=parse_time(body.posted_at) if body.posted_at else None,
            transaction_id=body.transaction_id,
        )
        return _created(txn.to_json())

    @bp.post("/accounts/<account_id>/transactions/generate")
    def generate(account_id: str) -> Response:
        body = GenerateIn.model_validate(_body())
        posted = emulator.post_generated(account_id, body.count, seed=body.seed)
        return _created({"transactions": [t.to_json() for t in posted]})

    @bp.patch("/accounts/<account_id>/transactions/<transaction_id>")
    def patch_transaction(account_id: str, transaction_id: str) -> Response:
        body = TransactionPatch.model_validate(_body())
        return jsonify(emulator.apply_changes(account_id, transaction_id, body.to_changes()).to_json())

    @bp.post("/accounts/<account_id>/transactions/<transaction_id>/attachments")
    def add_attachment(account_id: str, transaction_id: str) -> Response:
        spec = ReceiptIn.model_validate(_body()).to_spec()
        return _created(emulator.add_attachment(account_id, transaction_id, spec).to_json())

    @bp.put("/accounts/<account_id>/transactions/<transaction_id>/attachments/<attachment_id>")
    def replace_attachment(account_id: str, transaction_id: str, attachment_id: str) -> Response:
        spec = ReceiptIn.model_validate(_body()).to_spec()
        return jsonify(emulator.replace_attachment(account_id, transaction_id, attachment_id, spec).to_json())

    @bp.delete("/accounts/<account_id>/transactions/<transaction_id>/attachments/<attachment_id>")
    def remove_attachment(account_id: str, transaction_id: str, attachment_id: str) -> Response:
        return jsonify(emulator.remove_attachment(account_id, transaction_id, attachment_id).to_json())

    @bp.get("/events")
    def events() -> Response:
        after = request.args.get("after", "0")
        if not after.isdigit():
            raise invalid("after must be a non-negative integer.")
        selected = emulator.events(after=int(after), detail_type=request.args.get("detail_type"))
        return jsonify({"events": [e.to_json() for e in selected], "next_index": emulator.event_count})

    @bp.post("/seed")
    def seed() -> Response:
        body = SeedIn.model_validate(_body())
        summary = emulator.seed_demo(
            seed=body.seed,
            businesses=body.businesses,
            transactions_per_account=body.transactions_per_account,
            history_days=body.history_days,
            end_at=parse_time(body.end_at) if body.end_at else None,
            emit_events=body.emit_events,
        )
        return _created(summary.to_json())

    @bp.post("/faults")
    def add_fault() -> Response:
        body = FaultIn.model_validate(_body())
        emulator.faults.add(body.status, body.count, body.path_contains, probability=body.probability,
                            seed=body.seed, slow_s=body.slow_s)
        return _created({"faults": emulator.faults.pending})

    @bp.get("/faults")
    def list_faults() -> Response:
        return jsonify({"faults": emulator.faults.pending, "fired": emulator.faults.fired_total})

    @bp.delete("/faults")
    def clear_faults() -> Response:
        emulator.faults.clear()
        return jsonify({"faults": []})

    @bp.put("/event-faults")
    def set_event_faults() -> Response:
        body = EventFaultsIn.model_validate(_body())
        emulator.event_faults.configure(lose=body.lose, duplicate=body.duplicate, delay=body.delay, seed=body.seed)
        return jsonify(emulator.event_faults.as_json())

    @bp.get("/event-faults")
    def event_faults() -> Response:
        return jsonify(emulator.event_faults.as_json())

    @bp.post("/event-faults/release")
    def release_events() -> Response:
        return jsonify({"released": emulator.release_held_events()})

    return bp
