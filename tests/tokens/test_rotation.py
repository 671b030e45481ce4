"""Key rotation on a database of its own: old key still decrypts, rotate-keys rewrites all, the old key can go."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy import text

from herald.contracts.platform import Platform
from herald.tokens.rotation import rotate
from tests.support.servers import reserve_port
from tests.tokens.conftest import (
    KEY_1,
    KEY_2,
    EventLog,
    Harness,
    Sandboxes,
    fresh_database,
    ring,
    schema_engine,
    service_credentials,
    settings_for,
    start_service,
)


async def _ciphertexts(harness: Harness) -> list[str]:
    async with harness.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT access_token AS v FROM accounts WHERE access_token IS NOT NULL"
                " UNION ALL SELECT refresh_token FROM accounts WHERE refresh_token IS NOT NULL"
                " UNION ALL SELECT code_verifier FROM oauth_states WHERE code_verifier IS NOT NULL"
            )
        )
        return list(rows.scalars())


def _rotate(database_url: str, keys: dict[str, str], primary: str) -> dict[str, Any]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HERALD_")},
        "HERALD_ENVIRONMENT": "test",
        "HERALD_DATABASE_URL": database_url,
        "HERALD_TOKEN_KEYS": json.dumps(keys),
        "HERALD_TOKEN_PRIMARY_KEY": primary,
    }
    done = subprocess.run(
        [sys.executable, "-m", "herald.tokens", "rotate-keys"], env=env, capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    report: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return report


async def test_rotation_end_to_end(
    database_base_url: str, amqp_url: str, sandboxes: Sandboxes, event_log: EventLog, tmp_path: Path
) -> None:
    async with fresh_database(database_base_url) as database_url:
        tokens, hashes = service_credentials()
        engine = schema_engine(database_url)

        async with httpx.AsyncClient(timeout=30) as client:
            # 1. Everything written under k1.
            port = reserve_port()
            settings = settings_for(database_url, amqp_url, sandboxes, port, hashes)
            with start_service(settings) as url:
                harness = Harness(url, settings, sandboxes, engine, tokens, client)
                _, team = await harness.team()
                x = (await harness.connect(Platform.X, team, f"rot{uuid.uuid4().hex[:8]}"))[0]
                linkedin = (await harness.connect(Platform.LINKEDIN, team, f"rot{uuid.uuid4().hex[:8]}"))[0]
                pending = await client.post(f"{url}/v1/accounts/connect/x", headers=team, json={})
                tokens_before = {
                    a["id"]: (await harness.access_token(a["id"], Platform(a["platform"]))).json()["access_token"]
                    for a in (x, linkedin)
                }
            assert all(c.startswith("hv1:k1:") for c in await _ciphertexts(harness))

            # 2. k2 becomes primary; k1 still decrypts what it wrote; new writes use k2.
            port = reserve_port()
            settings = settings_for(
                database_url,
                amqp_url,
                sandboxes,
                port,
                hashes,
                token_keys={"k1": KEY_1, "k2": KEY_2},
                token_primary_key="k2",
            )
            with start_service(settings) as url:
                harness = Harness(url, settings, sandboxes, engine, tokens, client)
                for account_id, token in tokens_before.items():
                    platform = Platform(x["platform"] if account_id == x["id"] else "linkedin")
                    assert (await harness.access_token(account_id, platform)).json()["access_token"] == token
                meta = (await harness.connect(Platform.META, team, f"rot{uuid.uuid4().hex[:8]}"))[0]
                pending_k2 = await client.post(f"{url}/v1/accounts/connect/x", headers=team, json={})
            prefixes = {c.split(":")[1] for c in await _ciphertexts(harness)}
            assert prefixes == {"k1", "k2"}

            # 3. Rotate: every ciphertext (tokens and the pending PKCE verifier) under k2.
            report = await asyncio.to_thread(_rotate, database_url, {"k1": KEY_1, "k2": KEY_2}, "k2")
            assert report["primary"] == "k2"
            assert report["values"] == 5  # x access + refresh, linkedin access + refresh, the first verifier
            assert report["unreadable"] == 0
            assert all(c.startswith("hv1:k2:") for c in await _ciphertexts(harness))
            again = await rotate(engine, ring(k2=KEY_2, k1=KEY_1))  # in-process: the CLI costs seconds of imports
            assert again.values == 0

            # 4. k1 removed (keys from a mounted file): everything still reads, refresh tokens included.
            key_file = tmp_path / "keys.json"
            key_file.write_text(json.dumps({"primary": "k2", "keys": {"k2": KEY_2}}))
            port = reserve_port()
            settings = settings_for(
                database_url,
                amqp_url,
                sandboxes,
                port,
                hashes,
                token_keys={},
                token_primary_key=None,
                token_keys_file=key_file,
            )
            with start_service(settings) as url:
                harness = Harness(url, settings, sandboxes, engine, tokens, client)
                for account_id, token in tokens_before.items():
                    platform = Platform.X if account_id == x["id"] else Platform.LINKEDIN
                    assert (await harness.access_token(account_id, platform)).json()["access_token"] == token
                    await harness.expire(account_id)
                    refreshed = await harness.access_token(account_id, platform)
                    assert refreshed.status_code == 200
                    assert refreshed.json()["access_token"] != token
                assert (await harness.access_token(meta["id"], Platform.META)).status_code == 200
                # A connect started under k2 completes (its verifier was re-encrypted by nobody: already k2). One
                # started under k1 must be started again: its state's signature was made with the removed key.
                for started, expected in ((pending_k2, 200), (pending, 400)):
                    account = f"late{uuid.uuid4().hex[:6]}"
                    consent = await client.get(f"{started.json()['authorization_url']}&account={account}")
                    # The states were issued by earlier instances; the callback now lives at this one's port.
                    callback = urlsplit(consent.headers["location"])._replace(netloc=urlsplit(url).netloc)
                    completed = await client.get(urlunsplit(callback))
                    assert completed.status_code == expected, completed.text
        await engine.dispose()
