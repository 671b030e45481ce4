"""Team API keys and service credentials, on the real PostgreSQL."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import text

from herald.kit import db
from herald.kit.api import install_api_defaults
from herald.kit.auth import (
    IDENTITY_MIGRATIONS,
    IDENTITY_SCHEMA,
    ApiKeyStore,
    ServicePrincipal,
    TeamPrincipal,
    new_service_credential,
    service_principal,
    team_principal,
)
from herald.kit.migrations import upgrade
from herald.kit.settings import ServiceSettings
from tests.support.eventually import eventually
from tests.support.servers import closed_port


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[ApiKeyStore]:
    await upgrade(database_url, IDENTITY_MIGRATIONS, IDENTITY_SCHEMA)
    engine = db.create_engine(ServiceSettings(database_url=database_url), IDENTITY_SCHEMA, pool_size=2)
    yield ApiKeyStore(engine)
    await engine.dispose()


def _app(store: ApiKeyStore) -> FastAPI:
    app = FastAPI()

    @app.get("/whoami")
    async def whoami(principal: TeamPrincipal = Depends(team_principal(store))) -> dict[str, str]:  # noqa: B008
        return {"team": str(principal.team_id), "actor": principal.actor}

    return app


async def test_created_key_authenticates_its_team(store: ApiKeyStore) -> None:
    team = uuid.uuid4()
    principal, key = await store.create(team, "ci")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(_app(store)), base_url="http://t") as client:
        response = await client.get("/whoami", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    assert response.json() == {"team": str(team), "actor": f"api_key:{principal.key_id}"}


async def test_only_a_hash_of_the_secret_is_stored(store: ApiKeyStore, database_url: str) -> None:
    _, key = await store.create(uuid.uuid4(), "ci")
    secret = key.split("_", 2)[2]
    engine = db.create_engine(ServiceSettings(database_url=database_url), IDENTITY_SCHEMA, pool_size=1)
    async with engine.connect() as conn:
        dump = str((await conn.execute(text("SELECT * FROM identity.api_keys"))).all())
    await engine.dispose()
    assert secret not in dump


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Bearer hk_000000000000_" + "A" * 43])
async def test_missing_or_unknown_keys_get_401(store: ApiKeyStore, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(_app(store)), base_url="http://t") as client:
        response = await client.get("/whoami", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_tampered_secret_or_revoked_key_is_refused(store: ApiKeyStore) -> None:
    principal, key = await store.create(uuid.uuid4(), "ci")
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert await store.verify(tampered) is None
    assert await store.verify(key) == principal
    assert await store.revoke(principal.key_id)
    assert await store.verify(key) is None


async def test_a_verified_key_is_remembered_for_its_ttl_then_checked_again(
    store: ApiKeyStore, database_url: str
) -> None:
    """Revoked behind the store's back (another process), a remembered key keeps working until its TTL ends; one
    store without the cache and one whose TTL has passed ask the database and refuse it."""
    principal, key = await store.create(uuid.uuid4(), "ci")
    engine = db.create_engine(ServiceSettings(database_url=database_url), IDENTITY_SCHEMA, pool_size=1)
    remembering = ApiKeyStore(engine, cache_seconds=600)
    short = ApiKeyStore(engine, cache_seconds=0.2)
    try:
        assert await remembering.verify(key) == principal
        assert await short.verify(key) == principal
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE identity.api_keys SET revoked_at = now() WHERE key_id = :k"), {"k": principal.key_id}
            )
        assert await remembering.verify(key) == principal, "the remembered key asked the database"
        assert await store.verify(key) is None

        async def refused_once_forgotten() -> bool:  # True only once its TTL has passed and the database was asked
            return await short.verify(key) is None

        await eventually(refused_once_forgotten, what="the short-lived store forgot the key and refused it")
    finally:
        await engine.dispose()


async def test_requests_that_miss_the_cache_together_share_one_lookup(
    store: ApiKeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a remembered key expires under load, every request in flight misses at once: one database lookup
    answers them all. A wrong secret for the same key is looked up on its own, and refused."""
    principal, key = await store.create(uuid.uuid4(), "ci")
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    looked_up: list[str] = []
    look_up = store._look_up

    async def counted(key_id: str, digest: str) -> TeamPrincipal | None:
        looked_up.append(digest)
        return await look_up(key_id, digest)

    monkeypatch.setattr(store, "_look_up", counted)
    answers = await asyncio.gather(*(store.verify(key) for _ in range(32)), store.verify(tampered))
    assert answers == [principal] * 32 + [None]
    assert len(looked_up) == 2


async def test_a_remembered_key_id_does_not_vouch_for_another_secret_and_revoking_forgets_it(
    database_url: str,
) -> None:
    await upgrade(database_url, IDENTITY_MIGRATIONS, IDENTITY_SCHEMA)
    engine = db.create_engine(ServiceSettings(database_url=database_url), IDENTITY_SCHEMA, pool_size=1)
    remembering = ApiKeyStore(engine, cache_seconds=600)
    try:
        principal, key = await remembering.create(uuid.uuid4(), "ci")
        assert await remembering.verify(key) == principal
        tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
        assert await remembering.verify(tampered) is None
        assert await remembering.verify(key) == principal
        assert await remembering.revoke(principal.key_id)
        assert await remembering.verify(key) is None
    finally:
        await engine.dispose()


async def test_service_credentials() -> None:
    token, digest = new_service_credential("publisher-x")
    other_token, _ = new_service_credential("publisher-meta")
    app = FastAPI()

    @app.get("/internal")
    async def internal(
        caller: ServicePrincipal = Depends(service_principal({"publisher-x": digest})),  # noqa: B008
    ) -> dict[str, str]:
        return {"caller": caller.service}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
        ok = await client.get("/internal", headers={"Authorization": f"Bearer {token}"})
        unknown = await client.get("/internal", headers={"Authorization": f"Bearer {other_token}"})
        missing = await client.get("/internal")
    assert ok.json() == {"caller": "publisher-x"}
    assert unknown.status_code == 401
    assert missing.status_code == 401


async def test_a_database_outage_during_the_key_check_answers_503_not_500() -> None:
    """A key the cache does not vouch for needs the database; when it is unreachable the caller is told to retry."""
    with closed_port() as port:
        engine = db.create_engine(
            ServiceSettings(database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{port}/test"),
            IDENTITY_SCHEMA,
            pool_size=1,
        )
        app = _app(ApiKeyStore(engine))
        install_api_defaults(app)
        transport = httpx.ASGITransport(app, raise_app_exceptions=False)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await client.get("/whoami", headers={"Authorization": "Bearer hk_0123456789ab_" + "s" * 43})
        finally:
            await engine.dispose()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "database is unavailable" in response.json()["detail"]


async def test_a_bug_still_answers_500() -> None:
    app = FastAPI()
    install_api_defaults(app)

    @app.get("/broken")
    async def broken() -> None:
        raise ValueError("a bug, not an outage")

    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/broken")
    assert response.status_code == 500
