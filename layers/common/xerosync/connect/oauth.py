"""Connecting a business to its Xero organisation: OAuth with PKCE, the choice of organisation, and the end of
consents nobody finished (docs/architecture.md, Connect).

The help centre's "How to Integrate and Disconnect Xero": only Business Edition organisations that are active
may connect; a business connects to one organisation. Every sign-in whose code is exchanged becomes a
*consent* with its own generation: its tokens have their own item, it holds the Xero connections it offers,
and it either becomes the business's connection (``_finish``) or is given up (``give_up``, at once or by the
sweeper), which releases those connections, removes the ones nobody holds and wipes its tokens. A
reconnection ends the previous generation the same way, so nothing made for it can reach the new one.
"""

from __future__ import annotations

import base64
import json
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from xerosync.auth import Caller
from xerosync.clock import Clock, iso, utc_now
from xerosync.connect.cleanup import CleanupJob
from xerosync.connect.models import (
    ChooseOrganisation,
    CompleteConnect,
    ConnectOutcome,
    ConnectStarted,
    OrganisationChoice,
)
from xerosync.connect.ports import (
    Cleaner,
    ConnectionClaims,
    Connections,
    ConnectSessions,
    Consents,
    EndedGeneration,
    Feeds,
    FeedSyncRequester,
    OAuthStates,
    TokenStore,
    XeroSignIn,
)
from xerosync.connect.states import RESTART, state_refused
from xerosync.connect.views import connection_view
from xerosync.errors import Conflict, InvalidRequest, TooManyRequests, Unprocessable, UpstreamUnavailable
from xerosync.observability import logger, metrics
from xerosync.store.claims import ConnectionBeingRemoved, holder
from xerosync.store.connections import ConnectionStatus, ReplacedGeneration, StaleConnection, XeroConnectionRecord
from xerosync.store.consents import CONSENT_LIFETIME_SECONDS, TTL_AFTER_EXPIRY_SECONDS, Consent, ConsentStatus
from xerosync.store.feeds import LIVE_STATUSES, FeedStatus
from xerosync.store.oauth_states import StateRefused
from xerosync.xero.errors import ReconnectRequired, XeroError, XeroInvalidGrant, XeroRateLimited
from xerosync.xero.identity import pkce_pair
from xerosync.xero.models import OrganisationEdition, TokenSet, XeroConnection

# A retired generation's tokens stay this long for its cleanup, which may wait in the cleanup queue and its
# dead-letter queue (14 days) before it runs; then the table's TTL removes them whatever happened.
RETIRED_TOKENS_KEPT_SECONDS = 14 * 86400
SWEEP_BATCH = 50
DISCONNECTED_REASON = "The business disconnected Xero."
SWEEP_TIME_MARGIN_SECONDS = 60.0


def end_generation(tokens: TokenStore, claims: ConnectionClaims, business_id: str, ended: EndedGeneration,
                   now: float, feed_connection_ids: Sequence[str]) -> CleanupJob:
    """The business's connection of ``ended.generation`` has ended (disconnected, or replaced by a new one):
    its tokens are retired (work may no longer use them), its hold on the Xero connection released, and the
    job that removes what it leaves in Xero is returned for the caller to run or queue. Safe to repeat."""
    tokens.retire(business_id, ended.generation, now=now, keep_until=now + RETIRED_TOKENS_KEPT_SECONDS)
    claims.release(ended.xero_connection_id, holder(business_id, ended.generation))
    return CleanupJob(business_id=business_id, tenant_id=ended.tenant_id, generation=ended.generation,
                      feed_connection_ids=list(feed_connection_ids), xero_connection_ids=[ended.xero_connection_id],
                      end_grant=True)


@dataclass
class ConnectOAuth:
    states: OAuthStates
    identity: XeroSignIn
    sessions: ConnectSessions
    tokens: TokenStore
    consents: Consents
    claims: ConnectionClaims
    connections: Connections
    feeds: Feeds
    cleaner: Cleaner
    clock: Clock
    request_feed_sync: FeedSyncRequester | None = None

    def _now(self) -> str:
        return iso(utc_now(self.clock))

    # ------------------------------------------------------------------ sign-in
    def start(self, caller: Caller) -> ConnectStarted:
        caller.require_accounting_role()
        verifier, challenge = pkce_pair()
        state, expires_at = self.states.issue(caller.business_id, caller.user_id, self.clock.time(), verifier)
        return ConnectStarted(authorize_url=self.identity.authorize_url(state, challenge), state=state,
                              expires_at=iso(datetime.fromtimestamp(expires_at, tz=UTC)))

    def complete(self, caller: Caller, body: CompleteConnect) -> ConnectOutcome:
        caller.require_accounting_role()
        try:
            verifier = self.states.consume(body.state, caller.business_id, caller.user_id, self.clock.time())
        except StateRefused as refused:
            raise state_refused(refused.problem) from None
        try:
            tokens = self.identity.exchange_code(body.code, verifier)
        except XeroInvalidGrant:
            raise InvalidRequest("Xero did not accept this sign-in: the code is wrong, already used, older than "
                                 "5 minutes, or was not issued for this sign-in.", action=RESTART,
                                 code="code_rejected") from None
        except XeroError as error:
            raise UpstreamUnavailable("Xero could not be reached to finish connecting.", action=RESTART) from error
        consent = self._open_consent(caller, tokens)
        if not consent.organisations:
            self.give_up(consent)
            raise InvalidRequest("No Xero organisation was chosen on Xero's consent page.", action=RESTART,
                                 code="no_organisation")
        if len(consent.organisations) == 1:
            return self._finish(caller, consent, consent.organisations[0])
        # A newer sign-in of the same user replaces any choice they left open.
        for older in self.consents.waiting_choices(caller.business_id, caller.user_id):
            if older.generation != consent.generation:
                self.consents.abandon(older, self.clock.time())
        return ConnectOutcome(status="CHOOSE_ORGANISATION", organisations=[
            OrganisationChoice(tenant_id=c.tenant_id, name=c.tenant_name or c.tenant_id)
            for c in consent.organisations])

    def _open_consent(self, caller: Caller, tokens: TokenSet) -> Consent:
        """Record the consent before anything else can fail, so that whatever it made in Xero is found again."""
        now = self.clock.time()
        generation = uuid.uuid4().hex
        auth_event_id = _auth_event_id(tokens)
        expires_at = int(now) + CONSENT_LIFETIME_SECONDS
        self.tokens.create(caller.business_id, generation, tokens, expires_at=expires_at + TTL_AFTER_EXPIRY_SECONDS)
        try:
            organisations = [c for c in self.identity.connections(tokens.access_token, auth_event_id)
                             if c.tenant_type == "ORGANISATION"]
        except XeroError as error:
            # Its organisations are unknown: the sweeper lists them with the consent's tokens and gives it up.
            self.consents.open(Consent(business_id=caller.business_id, generation=generation, user_id=caller.user_id,
                                       auth_event_id=auth_event_id, organisations=None,
                                       status=ConsentStatus.FINISHING, expires_at=int(now)))
            raise UpstreamUnavailable("Xero could not be reached to finish connecting.", action=RESTART) from error
        consent = Consent(business_id=caller.business_id, generation=generation, user_id=caller.user_id,
                          auth_event_id=auth_event_id, organisations=organisations,
                          status=ConsentStatus.FINISHING if len(organisations) == 1 else ConsentStatus.CHOOSING,
                          expires_at=expires_at)
        self.consents.open(consent)
        try:
            for connection in organisations:
                self.claims.hold(connection.id, holder(caller.business_id, generation), now)
        except ConnectionBeingRemoved:
            self.give_up(consent)
            raise Conflict("Xero is still removing an earlier connection to this organisation.",
                           action="Connect to Xero again in a minute.", code="connection_being_removed") from None
        return consent

    def choose_organisation(self, caller: Caller, body: ChooseOrganisation) -> ConnectOutcome:
        caller.require_accounting_role()
        now = self.clock.time()
        consent = self.consents.waiting_choice(caller.business_id, caller.user_id, now)
        if consent is None:
            raise InvalidRequest("There is no Xero sign-in of yours waiting for a choice of organisation (it may "
                                 "have expired).", action=RESTART, code="no_pending_choice")
        chosen = next((c for c in consent.organisations or [] if c.tenant_id == body.tenant_id), None)
        if chosen is None:
            raise InvalidRequest("That organisation was not among those consented to in Xero.",
                                 action="Choose one of the organisations offered.", code="organisation_not_offered")
        if not self.consents.take_choice(consent, caller.user_id, now):
            raise InvalidRequest("This choice of organisation was already made, or has expired.", action=RESTART,
                                 code="no_pending_choice")
        return self._finish(caller, consent, chosen)

    # ------------------------------------------------------------------ finishing or giving up
    def _finish(self, caller: Caller, consent: Consent, chosen: XeroConnection) -> ConnectOutcome:
        business_id, generation = caller.business_id, consent.generation
        existing = self.connections.get(business_id)
        if existing and existing.status == ConnectionStatus.ACTIVE and existing.tenant_id != chosen.tenant_id:
            self.give_up(consent)
            raise Conflict(f"This business is already connected to the Xero organisation "
                           f"'{existing.organisation_name}'.",
                           action="Disconnect it first (Manage connection > Disconnect Xero), then connect again.",
                           code="already_connected")
        # One call, and a sign-in cannot be repeated without a new consent: not held to the per-user cap.
        session = self.sessions.session_for_generation(business_id, chosen.tenant_id, generation)
        try:
            organisation = session.organisation()
        except XeroRateLimited as busy:
            self.give_up(consent)
            wait = max(1, math.ceil(busy.retry_after))
            raise TooManyRequests("Xero's limits for your organisation are used up for the moment.", retry_after=wait,
                                  action=f"Connect to Xero again in {wait} seconds.", code="xero_busy") from None
        except ReconnectRequired:
            self.give_up(consent)
            raise Conflict("Xero removed this connection while it was being made.", action=RESTART,
                           code="connection_removed_meanwhile") from None
        except XeroError as error:
            self.give_up(consent)
            raise UpstreamUnavailable("Xero could not be reached to finish connecting.", action=RESTART) from error
        refusal = _refusal(organisation.name, organisation.edition, organisation.organisation_status)
        if refusal is not None:
            self.give_up(consent)
            metrics.add_metric(name="ConnectRefused", unit="Count", value=1)
            raise refusal
        same_organisation = existing is not None and existing.tenant_id == chosen.tenant_id
        now = self._now()
        replaced = _replaced_by_new_connection(existing)
        # The tokens are kept before the connection names them: a crash in between leaves a consent that the
        # sweeper gives up (wiping them), never a connection whose tokens the table's TTL removes later.
        self.tokens.keep(business_id, generation)
        try:
            record = self.connections.put(XeroConnectionRecord(
                business_id=business_id, tenant_id=chosen.tenant_id, generation=generation,
                auth_event_id=consent.auth_event_id, xero_connection_id=chosen.id,
                organisation_name=organisation.name, organisation_id=organisation.organisation_id,
                base_currency=organisation.base_currency, country_code=organisation.country_code,
                edition=organisation.edition, short_code=organisation.short_code, status=ConnectionStatus.ACTIVE,
                connected_by=caller.user_id, connected_at=now, status_changed_at=now,
                last_sync_at=existing.last_sync_at if existing and same_organisation else None,
                confirmed_at=int(self.clock.time()), replaced=replaced, version=existing.version if existing else 0))
        except StaleConnection:
            self.give_up(consent)
            raise Conflict("The business's Xero connection changed while this sign-in was finishing (another user "
                           "connected or disconnected at the same moment).",
                           action="Refresh the page to see the connection, and connect again if needed.",
                           code="connection_changed") from None
        self.consents.close(business_id, generation)
        others = [c for c in consent.organisations or [] if c.id != chosen.id]
        if others:
            # Offered on the consent page but not chosen: one business connects to one organisation.
            for connection in others:
                self.claims.release(connection.id, holder(business_id, generation))
            self.cleaner.clean_or_queue(CleanupJob(business_id=business_id, tenant_id=chosen.tenant_id,
                                                   generation=generation,
                                                   xero_connection_ids=[c.id for c in others]))
        if existing is not None:
            self.finish_replacement(record)
        metrics.add_metric(name="Connected", unit="Count", value=1)
        logger.info("business connected to Xero", extra={"business_id": business_id, "tenant_id": chosen.tenant_id,
                                                          "generation": generation,
                                                          "reconnect": existing is not None})
        return ConnectOutcome(status="CONNECTED", connection=connection_view(record))

    def finish_replacement(self, record: XeroConnectionRecord) -> bool:
        """End what the generations ``record`` replaced left behind: their live links move to it if they feed
        the same organisation (and sync at once), or end if not (or if the user had disconnected them); their
        tokens are retired, their holds released and their cleanup run or queued; then the connection records
        it is done. Run when a connection is made, and again by the next sign-in or the hourly check when the
        request died half-way. Safe to repeat, and to run twice at once: each link moves by a transaction that
        checks the connection is still ``record``'s generation, so a finisher another reconnection overtook
        moves nothing (False: the newer connection's finisher takes over)."""
        replaced = {r.generation: r for r in record.replaced}
        moved: list[str] = []
        ended: dict[tuple[str, str], list[str]] = {}  # (generation, tenant) -> feed connections to remove
        if record.status != ConnectionStatus.DISCONNECTED:  # a disconnect ends every live link itself
            for feed in self.feeds.for_business(record.business_id):
                if not feed.is_live or feed.generation == record.generation:
                    continue
                previous = replaced.get(feed.generation)
                if feed.tenant_id == record.tenant_id and not (previous and previous.disconnected):
                    changes: dict[str, object] = {"generation": record.generation}
                else:
                    changes = {"status": FeedStatus.DISCONNECTED, "status_reason": _ended_link_reason(previous),
                               "status_changed_at": self._now()}
                changed = self.feeds.change_for_connection(feed, record.generation, only_if=LIVE_STATUSES,
                                                           same_link=True, **changes)
                if changed is None:
                    logger.info("reconnection overtaken by a newer connection: it finishes the move",
                                extra={"business_id": record.business_id, "generation": record.generation})
                    return False
                if changed.feed_connection_id != feed.feed_connection_id:
                    continue  # linked again meanwhile, on the new connection: nothing of this link to move or end
                if changed.is_live and changed.generation == record.generation:
                    moved.append(feed.account_id)
                elif changed.status == FeedStatus.DISCONNECTED and feed.feed_connection_id:
                    ended.setdefault((feed.generation, feed.tenant_id), []).append(feed.feed_connection_id)
        now = self.clock.time()
        for previous in record.replaced:
            feed_ids = ended.pop((previous.generation, previous.tenant_id), [])
            self.cleaner.clean_or_queue(end_generation(self.tokens, self.claims, record.business_id, previous, now,
                                                       feed_ids))
        for (generation, tenant_id), feed_ids in ended.items():  # links of a generation no record names
            self.cleaner.clean_or_queue(CleanupJob(business_id=record.business_id, tenant_id=tenant_id,
                                                   generation=generation, feed_connection_ids=feed_ids))
        if moved and self.request_feed_sync is not None:
            # Work queued for the previous generation is dropped; the moved links sync now, not in 3 hours.
            self.request_feed_sync(record.tenant_id, record.business_id, record.generation, moved, "reconnected")
        if record.replaced:
            self.connections.mark_replacement_finished(record.business_id, record.generation)
        if moved or ended or record.replaced:
            logger.info("previous connection ended", extra={"business_id": record.business_id,
                                                            "generation": record.generation,
                                                            "links_moved": len(moved)})
        return True

    def give_up(self, consent: Consent) -> None:
        """The consent will not become a connection: its holds go, what nobody holds is removed in Xero, its
        grant is revoked if it reaches nothing else, and its tokens are wiped (now, or by the cleanup queue)."""
        organisations = consent.organisations or []
        for connection in organisations:
            self.claims.release(connection.id, holder(consent.business_id, consent.generation))
        tenant_id = organisations[0].tenant_id if organisations else consent.business_id
        self.cleaner.clean_or_queue(CleanupJob(business_id=consent.business_id, tenant_id=tenant_id,
                                               generation=consent.generation,
                                               xero_connection_ids=[c.id for c in organisations], end_grant=True))
        self.consents.close(consent.business_id, consent.generation)

    # ------------------------------------------------------------------ the sweeper
    def sweep_consents(self, time_left: Callable[[], float]) -> int:
        """Give up consents past their time: choices never made or abandoned, requests that died half-way.
        Run by the hourly connection check while it has time; returns how many were given up."""
        given_up = 0
        while time_left() > SWEEP_TIME_MARGIN_SECONDS:
            due = self.consents.due(self.clock.time(), SWEEP_BATCH)
            if not due:
                break
            given_up += self._sweep(due)
        return given_up

    def _sweep(self, due: Sequence[Consent]) -> int:
        given_up = 0
        for consent in due:
            now = self.clock.time()
            if not self.consents.claim_for_ending(consent, now):
                continue  # another sweeper has it, or its user took it just now
            current = self.connections.get(consent.business_id)
            if current is not None and current.generation == consent.generation:
                self.consents.close(consent.business_id, consent.generation)  # finished; only the closing died
                continue
            if consent.organisations is None:
                try:
                    consent = consent.model_copy(update={"organisations": self._organisations_of(consent)})
                except (XeroError, ReconnectRequired) as error:
                    logger.info("consent's organisations not known yet; the next sweep tries again",
                                extra={"business_id": consent.business_id, "error": type(error).__name__})
                    continue
            self.give_up(consent)
            given_up += 1
            metrics.add_metric(name="ConsentsGivenUp", unit="Count", value=1)
            logger.info("consent given up", extra={"business_id": consent.business_id,
                                                   "generation": consent.generation,
                                                   "organisations": len(consent.organisations or [])})
        return given_up

    def _organisations_of(self, consent: Consent) -> list[XeroConnection]:
        session = self.sessions.session_for_generation(consent.business_id, "", consent.generation)
        return [c for c in self.identity.connections(session.access_token(), consent.auth_event_id)
                if c.tenant_type == "ORGANISATION"]


def _replaced_by_new_connection(existing: XeroConnectionRecord | None) -> list[ReplacedGeneration]:
    """What a new connection over ``existing`` must end: ``existing``'s generation unless a disconnect ended it
    already, and whatever ``existing`` itself had not finished ending."""
    if existing is None:
        return []
    replaced = list(existing.replaced)
    if not (existing.status == ConnectionStatus.DISCONNECTED and existing.generation_ended):
        replaced.insert(0, ReplacedGeneration(
            generation=existing.generation, tenant_id=existing.tenant_id,
            xero_connection_id=existing.xero_connection_id, organisation_name=existing.organisation_name,
            disconnected=existing.status == ConnectionStatus.DISCONNECTED))
    return replaced


def _ended_link_reason(previous: ReplacedGeneration | None) -> str:
    if previous is not None and previous.disconnected:
        return DISCONNECTED_REASON
    if previous is not None:
        return f"Linked to '{previous.organisation_name}', a different Xero organisation."
    return "Linked to a different Xero organisation."


def _auth_event_id(tokens: TokenSet) -> str | None:
    """Xero's access token is a JWT naming the consent (authentication_event_id); its connections share it."""
    try:
        payload = tokens.access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims["authentication_event_id"])
    except (IndexError, KeyError, ValueError):
        return None


def _refusal(name: str, edition: str | None, organisation_status: str | None) -> Unprocessable | None:
    if edition == OrganisationEdition.PARTNER:
        return Unprocessable(
            f"'{name}' is a Xero Partner Edition organisation. Only Business Edition organisations can be connected.",
            action="Connect a Business Edition organisation, or ask your Xero adviser to move this one to Business "
                   "Edition.", code="partner_edition")
    if organisation_status != "ACTIVE":
        return Unprocessable(f"'{name}' is not an active Xero organisation, so it cannot be connected.",
                             action="Choose an active organisation in Xero.", code="organisation_inactive")
    if edition != OrganisationEdition.BUSINESS:
        return Unprocessable(
            f"'{name}' is not a Xero Business Edition organisation (Xero reports its edition as "
            f"{edition or 'unknown'}). Only Business Edition organisations can be connected.",
            action="Connect a Business Edition organisation.", code="edition_not_supported")
    return None
