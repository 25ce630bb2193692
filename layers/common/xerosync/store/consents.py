"""Xero consents the product received tokens for and has not finished with (docs/architecture.md, Connect).

Each completed sign-in (a code exchanged for tokens) is a *consent*, and its id is the generation the
connection will have if it is finished. The item exists from the moment the tokens exist until the consent
either becomes the business's connection or is given up, so nothing it made in Xero is ever forgotten:

- ``FINISHING``: the sign-in request is finishing it now (one organisation, or the user's choice);
- ``CHOOSING``: it covered several organisations and waits for *its own user* to choose (10 minutes); only
  that user may take it (conditional on the user), and a newer sign-in of the same user abandons it;
- ``ENDING``: past its time, a sweeper is giving it up: it releases the organisations' connections, removes
  those nobody holds, and wipes the consent's tokens.

Every consent is in one index partition sorted by when it expires, so the sweeper reads only what is due.
Items carry a TTL well after their expiry, as a backstop only: the sweeper must see them first. The connect
feature uses the store through its ``Consents`` port (``xerosync.connect.ports``).
"""

from enum import StrEnum
from typing import Any

from boto3.dynamodb.conditions import Key

from xerosync.model import Model
from xerosync.store.conditions import update_if
from xerosync.store.keys import CONSENTS_GSI_PK, business_pk, consent_gsi, consent_key
from xerosync.store.queries import query_items
from xerosync.xero.models import XeroConnection

CONSENT_LIFETIME_SECONDS = 600  # as long as the sign-in's state: the user has 10 minutes to choose
SWEEP_LEASE_SECONDS = 300  # a sweeper giving a consent up has this long before another may take it over
TTL_AFTER_EXPIRY_SECONDS = 7 * 86400


class ConsentStatus(StrEnum):
    FINISHING = "FINISHING"
    CHOOSING = "CHOOSING"
    ENDING = "ENDING"


class Consent(Model):
    business_id: str
    generation: str
    user_id: str
    auth_event_id: str | None = None
    organisations: list[XeroConnection] | None  # None: not known yet (Xero failed before it said)
    status: ConsentStatus
    expires_at: int


class ConsentStore:
    def __init__(self, table: Any) -> None:
        self.table = table

    def open(self, consent: Consent) -> None:
        self.table.put_item(Item={**consent_key(consent.business_id, consent.generation),
                                  **consent_gsi(consent.expires_at, consent.business_id, consent.generation),
                                  **consent.model_dump(mode="json", by_alias=True),
                                  "ttl": consent.expires_at + TTL_AFTER_EXPIRY_SECONDS},
                            ConditionExpression="attribute_not_exists(pk)")

    def _of_business(self, business_id: str) -> list[Consent]:
        kwargs: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(business_pk(business_id))
                                  & Key("sk").begins_with("CONSENT#"), "ConsistentRead": True}
        return [_consent(item) for item in query_items(self.table, **kwargs)]

    def waiting_choices(self, business_id: str, user_id: str) -> list[Consent]:
        return [c for c in self._of_business(business_id)
                if c.user_id == user_id and c.status == ConsentStatus.CHOOSING]

    def waiting_choice(self, business_id: str, user_id: str, now: float) -> Consent | None:
        """The newest consent waiting for this user's choice, if it has not expired."""
        waiting = [c for c in self.waiting_choices(business_id, user_id) if c.expires_at > now]
        return max(waiting, key=lambda c: c.expires_at, default=None)

    def _move(self, consent: Consent, status: ConsentStatus, expires_at: int, condition: str,
              values: dict[str, Any]) -> bool:
        return update_if(
            self.table,
            Key=consent_key(consent.business_id, consent.generation),
            UpdateExpression="SET #status = :status, expires_at = :expires, gsi1sk = :position, #ttl = :ttl",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#status": "status", "#ttl": "ttl"},
            ExpressionAttributeValues={
                ":status": status.value, ":expires": expires_at,
                ":position": consent_gsi(expires_at, consent.business_id, consent.generation)["gsi1sk"],
                ":ttl": expires_at + TTL_AFTER_EXPIRY_SECONDS, **values})

    def take_choice(self, consent: Consent, user_id: str, now: float) -> bool:
        """The user who consented takes the choice (once); it is then finished within its own 10 minutes."""
        return self._move(consent, ConsentStatus.FINISHING, int(now) + CONSENT_LIFETIME_SECONDS,
                          "#status = :choosing AND user_id = :user AND expires_at > :now",
                          {":choosing": ConsentStatus.CHOOSING.value, ":user": user_id, ":now": int(now)})

    def abandon(self, consent: Consent, now: float) -> bool:
        """A choice the user will not make (a newer sign-in of theirs replaces it): due for the sweeper now."""
        return self._move(consent, ConsentStatus.CHOOSING, int(now),
                          "#status = :choosing", {":choosing": ConsentStatus.CHOOSING.value})

    def due(self, now: float, limit: int = 50) -> list[Consent]:
        """Consents past their time (abandoned, never chosen, or whose request died), oldest first."""
        page = self.table.query(IndexName="gsi1", Limit=limit,
                                KeyConditionExpression=Key("gsi1pk").eq(CONSENTS_GSI_PK)
                                & Key("gsi1sk").lt(f"{int(now) + 1:012d}"))
        return [_consent(item) for item in page.get("Items", [])]

    def claim_for_ending(self, consent: Consent, now: float) -> bool:
        """One sweeper at a time gives a due consent up: the one whose conditional write moves it first."""
        return self._move(consent, ConsentStatus.ENDING, int(now) + SWEEP_LEASE_SECONDS,
                          "expires_at = :seen AND expires_at <= :now",
                          {":seen": consent.expires_at, ":now": int(now)})

    def close(self, business_id: str, generation: str) -> None:
        self.table.delete_item(Key=consent_key(business_id, generation))


def _consent(item: dict[str, Any]) -> Consent:
    return Consent.model_validate({k: v for k, v in item.items()
                                   if k not in ("pk", "sk", "gsi1pk", "gsi1sk", "ttl")})
