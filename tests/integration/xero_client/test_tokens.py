"""Token vault: encrypted at rest, one refresh at a time, a crash never forces a reconnect."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest

from emulators.time_control import ManualClock
from emulators.xero import XeroEmulator
from tests.support.xero_sessions import connect, generation_of
from xerosync.store.connections import ConnectionStatus
from xerosync.store.keys import tokens_key
from xerosync.xero.client import XeroClient
from xerosync.xero.errors import ReconnectRequired
from xerosync.xero.models import TokenSet


def _expire_stored_access_token(client: XeroClient, business_id: str) -> TokenSet:
    """Store the same tokens with an access-token expiry in the past, as 30 minutes later would."""
    generation = generation_of(client, business_id)
    stored = client.vault.load(business_id, generation)
    assert stored is not None and stored.tokens is not None
    expired = stored.tokens.model_copy(update={"expires_at": client.clock.time() - 1})
    client.vault.save(business_id, generation, expired, expected_version=stored.version)
    return expired


def test_tokens_are_sealed_with_the_business_as_encryption_context(client: XeroClient, emulator: XeroEmulator) -> None:
    # Given a connected business
    tenant = emulator.seed_organisation()
    connect(client, emulator, "biz_seal", tenant)
    generation = generation_of(client, "biz_seal")
    item = client.vault.table.get_item(Key=tokens_key("biz_seal", generation))["Item"]
    stored = client.vault.load("biz_seal", generation)
    assert stored is not None and stored.tokens is not None
    # Then no token appears in clear in the item
    raw = repr(item)
    assert stored.tokens.access_token not in raw and stored.tokens.refresh_token not in raw
    assert {"sealed", "wrapped_key", "nonce", "version"} <= set(item)
    # And the wrapped key opens only with this business and this generation as encryption context
    kms = boto3.client("kms")
    for wrong in ({"business_id": "biz_other", "generation": generation}, {"business_id": "biz_seal"},
                  {"business_id": "biz_seal", "generation": "another-generation"}):
        with pytest.raises(kms.exceptions.InvalidCiphertextException):
            kms.decrypt(CiphertextBlob=bytes(item["wrapped_key"]), EncryptionContext=wrong)
    assert kms.decrypt(CiphertextBlob=bytes(item["wrapped_key"]),
                       EncryptionContext={"business_id": "biz_seal", "generation": generation})["Plaintext"]


def test_twenty_threads_with_an_expired_token_cause_one_refresh(client: XeroClient, emulator: XeroEmulator) -> None:
    # Given a connection whose access token has expired
    tenant = emulator.seed_organisation()
    connect(client, emulator, "biz_20", tenant)
    expired = _expire_stored_access_token(client, "biz_20")
    before = emulator.token_stats()
    # When 20 threads need a token at once
    barrier = threading.Barrier(20)
    tokens: list[str] = []
    errors: list[BaseException] = []

    def need_token() -> None:
        barrier.wait()
        try:
            tokens.append(client.tokens.access_token("biz_20", generation_of(client, "biz_20")))
        except BaseException as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=need_token) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then Xero saw exactly one refresh, no invalid_grant, and every thread got the new token
    after = emulator.token_stats()
    assert errors == []
    assert after["refreshes"] - before["refreshes"] == 1
    assert after["invalid_grant"] == before["invalid_grant"] == 0
    assert len(set(tokens)) == 1 and tokens[0] != expired.access_token
    # And the new token works
    assert client.session("biz_20").organisation().organisation_id


@pytest.mark.parametrize("clock", [ManualClock()])
def test_a_crash_after_xero_rotated_the_token_does_not_force_a_reconnect(
        client: XeroClient, emulator: XeroEmulator, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a connection due for refresh
    tenant = emulator.seed_organisation()
    connect(client, emulator, "biz_crash", tenant)
    _expire_stored_access_token(client, "biz_crash")

    # When the Lambda dies after Xero answered the refresh but before the new pair was stored
    real_save = client.vault.save

    def crash_on_save(*args: Any, **kwargs: Any) -> int:
        raise SystemExit("Lambda runtime killed")

    monkeypatch.setattr(client.vault, "save", crash_on_save)
    with pytest.raises(SystemExit):
        client.tokens.access_token("biz_crash", generation_of(client, "biz_crash"))
    monkeypatch.setattr(client.vault, "save", real_save)
    assert emulator.token_stats()["refreshes"] == 1

    # And the next invocation comes once the dead Lambda's lease has lapsed (within Xero's 30 minutes)
    clock.advance(31)
    token = client.tokens.access_token("biz_crash", generation_of(client, "biz_crash"))

    # Then the stored (already rotated) refresh token is accepted as a retry, and nothing needs reconnecting
    stats = emulator.token_stats()
    assert stats["grace_reuses"] == 1 and stats["invalid_grant"] == 0
    assert client.session("biz_crash").organisation().organisation_id
    record = client.connections.get("biz_crash")
    assert record is not None and record.status == ConnectionStatus.ACTIVE
    assert token


def test_invalid_grant_marks_needs_reconnect_and_stops_all_calls(client: XeroClient, emulator: XeroEmulator) -> None:
    # Given a connected business whose grant Xero has revoked
    tenant = emulator.seed_organisation()
    connect(client, emulator, "biz_revoked", tenant)
    _expire_stored_access_token(client, "biz_revoked")
    emulator.add_fault("invalid_grant", path="/connect/token", times=1)
    # When a call needs a fresh token
    with pytest.raises(ReconnectRequired) as refused:
        client.session("biz_revoked").organisation()
    # Then the business is NEEDS_RECONNECT with the reason, its tokens are gone
    record = client.connections.get("biz_revoked")
    assert record is not None and record.status == ConnectionStatus.NEEDS_RECONNECT
    assert "no longer accepts this connection" in (record.status_reason or "")
    assert "no longer accepts" in refused.value.reason
    stored_item = client.vault.table.get_item(
        Key=tokens_key("biz_revoked", generation_of(client, "biz_revoked")))["Item"]
    assert "sealed" not in stored_item and stored_item["disabled_reason"]
    # And nothing calls Xero for it again: no retry loop
    calls_before = len(emulator.request_log)
    for _ in range(3):
        with pytest.raises(ReconnectRequired):
            client.session("biz_revoked").accounts()
        with pytest.raises(ReconnectRequired):
            client.tokens.access_token("biz_revoked", generation_of(client, "biz_revoked"))
    assert len(emulator.request_log) == calls_before


def test_a_token_set_is_cached_per_seal_so_reads_do_not_call_kms_each_time(
        client: XeroClient, emulator: XeroEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = emulator.seed_organisation()
    connect(client, emulator, "biz_cache", tenant)
    client.tokens.access_token("biz_cache", generation_of(client, "biz_cache"))
    decrypts: list[Any] = []
    real_decrypt = client.vault.kms.decrypt
    monkeypatch.setattr(client.vault.kms, "decrypt", lambda **kw: decrypts.append(kw) or real_decrypt(**kw))
    for _ in range(5):
        client.tokens.access_token("biz_cache", generation_of(client, "biz_cache"))
    assert decrypts == []
