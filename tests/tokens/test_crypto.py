"""Tokens at rest: AES-256-GCM under a key ring, bound to row and column, never in a dump, a log or an answer."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from herald.contracts.platform import Platform
from herald.tokens.crypto import DecryptionFailed, KeyRing, KeyRingError, load_key_ring, new_key
from herald.tokens.settings import TokensSettings
from tests.tokens.conftest import KEY_1, KEY_2, Harness

K1 = base64.b64decode(KEY_1)
K2 = base64.b64decode(KEY_2)


def test_round_trip_names_the_key_and_binds_owner_and_field() -> None:
    keys = KeyRing({"k1": K1}, "k1")
    owner = uuid.uuid4()
    sealed = keys.encrypt("secret-token", owner=owner, field="access_token")

    assert sealed.startswith("hv1:k1:")
    assert "secret-token" not in sealed
    assert keys.decrypt(sealed, owner=owner, field="access_token") == "secret-token"
    with pytest.raises(DecryptionFailed):
        keys.decrypt(sealed, owner=uuid.uuid4(), field="access_token")  # copied to another row
    with pytest.raises(DecryptionFailed):
        keys.decrypt(sealed, owner=owner, field="refresh_token")  # copied to another column


def test_the_same_plaintext_encrypts_differently_each_time() -> None:
    keys = KeyRing({"k1": K1}, "k1")
    owner = uuid.uuid4()
    assert keys.encrypt("t", owner=owner, field="f") != keys.encrypt("t", owner=owner, field="f")


def test_tampering_and_unknown_keys_fail() -> None:
    owner = uuid.uuid4()
    sealed = KeyRing({"k1": K1}, "k1").encrypt("secret", owner=owner, field="f")
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(DecryptionFailed):
        KeyRing({"k1": K1}, "k1").decrypt(flipped, owner=owner, field="f")
    with pytest.raises(DecryptionFailed, match="not in the key ring"):
        KeyRing({"k2": K2}, "k2").decrypt(sealed, owner=owner, field="f")
    with pytest.raises(DecryptionFailed):
        KeyRing({"k1": K1}, "k1").decrypt("plaintext", owner=owner, field="f")


def test_retired_keys_still_decrypt_and_new_writes_use_the_primary() -> None:
    owner = uuid.uuid4()
    old = KeyRing({"k1": K1}, "k1").encrypt("secret", owner=owner, field="f")
    rotated = KeyRing({"k1": K1, "k2": K2}, "k2")
    assert rotated.decrypt(old, owner=owner, field="f") == "secret"
    assert not rotated.is_current(old)
    assert rotated.encrypt("secret", owner=owner, field="f").startswith("hv1:k2:")


def test_state_signatures_verify_under_any_ring_key() -> None:
    old = KeyRing({"k1": K1}, "k1")
    signature = old.sign("x:nonce")
    assert old.verify("x:nonce", signature)
    assert not old.verify("linkedin:nonce", signature)
    assert KeyRing({"k1": K1, "k2": K2}, "k2").verify("x:nonce", signature)
    assert not KeyRing({"k2": K2}, "k2").verify("x:nonce", signature)


def test_bad_key_configurations_are_refused() -> None:
    with pytest.raises(KeyRingError, match="32"):
        KeyRing({"k1": b"short"}, "k1")
    with pytest.raises(KeyRingError, match="primary"):
        KeyRing({"k1": K1}, "k9")
    base = {"environment": "test"}
    with pytest.raises(KeyRingError, match="PRIMARY"):
        load_key_ring(TokensSettings.model_validate({**base, "token_keys": {"a": KEY_1, "b": KEY_2}}))
    with pytest.raises(KeyRingError, match="bytes"):
        load_key_ring(TokensSettings.model_validate({**base, "token_keys": {"a": base64.b64encode(b"x").decode()}}))


def test_outside_development_the_service_refuses_to_start_without_a_key() -> None:
    with pytest.raises(ValidationError, match="no token encryption key"):
        TokensSettings.model_validate({"environment": "production"})


def test_in_development_a_missing_key_becomes_a_loud_ephemeral_one(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="herald.tokens.crypto"):
        keys = load_key_ring(TokensSettings.model_validate({"environment": "development"}))
    assert keys.primary == "ephemeral"
    assert "EPHEMERAL" in caplog.text


@pytest.mark.parametrize("shape", ["map", "with_primary"])
def test_keys_can_come_from_a_mounted_file(tmp_path: Path, shape: str) -> None:
    path = tmp_path / "keys.json"
    fresh = new_key()
    if shape == "map":
        path.write_text(json.dumps({"only": fresh}))
    else:
        path.write_text(json.dumps({"primary": "k2", "keys": {"k1": KEY_1, "k2": fresh}}))
    keys = load_key_ring(TokensSettings.model_validate({"environment": "production", "token_keys_file": path}))
    assert keys.primary == ("only" if shape == "map" else "k2")


async def test_a_dump_of_the_database_contains_no_plaintext_token(harness: Harness) -> None:
    _, team = await harness.team()
    accounts = []
    for platform in Platform:
        accounts += await harness.connect(platform, team, f"dump{uuid.uuid4().hex[:8]}")
    plaintexts = []
    for account in accounts:
        platform = Platform(account["platform"])
        plaintexts.append((await harness.access_token(account["id"], platform)).json()["access_token"])
    await harness.expire(accounts[0]["id"])
    plaintexts.append((await harness.access_token(accounts[0]["id"], Platform.X)).json()["access_token"])
    pending = await harness.client.post(f"{harness.url}/v1/accounts/connect/x", headers=team, json={})
    assert pending.status_code == 200  # leaves a PKCE verifier at rest too

    async with harness.engine.connect() as conn:
        tables = (
            await conn.execute(
                text(
                    "SELECT table_schema, table_name FROM information_schema.tables"
                    " WHERE table_schema IN ('tokens', 'identity')"
                )
            )
        ).all()
        dump = ""
        for schema, table in tables:
            rows = (await conn.execute(text(f'SELECT t::text FROM "{schema}"."{table}" t'))).scalars()
            dump += "\n".join(rows)

    assert accounts[0]["id"] in dump  # the dump really holds the accounts
    for token in plaintexts:
        assert token not in dump
    for marker in ("-at-", "-rt-", "EAAH-"):  # the sandboxes' access, refresh and Graph token prefixes
        assert marker not in dump


async def test_a_ciphertext_copied_to_another_account_does_not_decrypt(harness: Harness) -> None:
    _, team = await harness.team()
    victim = (await harness.connect(Platform.X, team, f"victim{uuid.uuid4().hex[:8]}"))[0]
    attacker = (await harness.connect(Platform.X, team, f"thief{uuid.uuid4().hex[:8]}"))[0]
    victim_token = (await harness.access_token(victim["id"], Platform.X)).json()["access_token"]
    async with harness.engine.begin() as conn:
        await conn.execute(
            text("UPDATE accounts SET access_token = (SELECT access_token FROM accounts WHERE id = :v) WHERE id = :a"),
            {"v": uuid.UUID(victim["id"]), "a": uuid.UUID(attacker["id"])},
        )

    response = await harness.access_token(attacker["id"], Platform.X)

    assert response.status_code == 500
    assert response.json()["detail"]["error"] == "token_unreadable"
    assert victim_token not in response.text
    assert (await harness.access_token(victim["id"], Platform.X)).json()["access_token"] == victim_token


async def test_tokens_never_reach_the_logs(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    _, team = await harness.team()
    with caplog.at_level(logging.DEBUG):
        account = (await harness.connect(Platform.X, team, f"quiet{uuid.uuid4().hex[:8]}"))[0]
        await harness.expire(account["id"])
        token = (await harness.access_token(account["id"], Platform.X)).json()["access_token"]
        await harness.sandboxes.arm(Platform.X, operation="token", kind="error", error="invalid_request", count=1)
        try:
            await harness.expire(account["id"])
            await harness.access_token(account["id"], Platform.X)
        finally:
            await harness.sandboxes.clear(Platform.X)
        page = (await harness.connect(Platform.META, team, f"quiet{uuid.uuid4().hex[:8]}"))[0]
        page_token = (await harness.access_token(page["id"], Platform.META)).json()["access_token"]
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert "token refreshed" in logged  # the service did log about this account
    for secret in (token, page_token, "-rt-", "EAAH-at-"):  # EAAH-at-: also the Meta user tokens
        assert secret not in logged
