"""Team API keys for operators: an admin API protected by the bootstrap secret, and the same as a command.

API (mounted by the scheduler; header ``X-Herald-Bootstrap-Secret``)
    ``POST   /v1/admin/api-keys``             ``{"team_id"?, "name"}`` -> the key, shown once (201)
    ``GET    /v1/admin/api-keys?team_id=``    the keys (id, team, name, created, revoked), never a secret
    ``DELETE /v1/admin/api-keys/{key_id}``    revoke (idempotent): requests with it answer 401 from then on
Command
    ``python -m herald.kit.admin create-key --team UUID --name NAME`` / ``list-keys [--team UUID]`` /
    ``revoke-key KEY_ID``

Creating and revoking publish ``ApiKeyCreated`` / ``ApiKeyRevoked`` (the audit log records them). A revocation is
published before it is committed: if the event cannot be published, the key stays valid and the caller is told
to retry, so no revocation goes unaudited.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hmac
import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, status
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, Field, SecretStr

from herald.contracts.base import service_actor
from herald.contracts.identity import ApiKeyCreated, ApiKeyRevoked, KeyChannel
from herald.kit import db
from herald.kit.api import INVALID, UNAUTHORIZED, ApiModel
from herald.kit.auth import IDENTITY_MIGRATIONS, IDENTITY_SCHEMA, ApiKeyInfo, ApiKeyStore
from herald.kit.broker import EventPublisher, PublishNotConfirmed, build_broker, declare_exchanges
from herald.kit.clock import utc_now
from herald.kit.migrations import upgrade
from herald.kit.settings import ServiceSettings, load_settings

BOOTSTRAP_HEADER = "X-Herald-Bootstrap-Secret"
OPERATOR_ACTOR = service_actor("operator")
"""Who acts through the admin API or command: whoever holds the bootstrap secret or the database credentials."""
_KEY_ID = r"^[a-z0-9]{12}$"


class KeyAdmin:
    """Create, list and revoke team API keys, publishing what changed for the audit log."""

    def __init__(self, store: ApiKeyStore, events: EventPublisher, channel: KeyChannel) -> None:
        self._store = store
        self._events = events
        self._channel = channel

    async def create(self, team_id: uuid.UUID, name: str) -> tuple[ApiKeyInfo, str]:
        """A new key (its plaintext is returned once), recorded by ``ApiKeyCreated``."""
        created: list[ApiKeyInfo] = []

        async def audit(info: ApiKeyInfo) -> None:
            await self._events.publish(self._event(ApiKeyCreated, info))
            created.append(info)

        _, key = await self._store.create(team_id, name, before_commit=audit)
        return created[0], key

    async def list(self, team_id: uuid.UUID | None) -> list[ApiKeyInfo]:
        return await self._store.list(team_id)

    async def revoke(self, key_id: str) -> ApiKeyInfo | None:
        """Revoke ``key_id`` (``None``: no such key); raises :class:`PublishNotConfirmed` leaving it valid."""

        async def audit(info: ApiKeyInfo) -> None:
            await self._events.publish(self._event(ApiKeyRevoked, info))

        return await self._store.revoke(key_id, before_commit=audit)

    def _event(self, cls: type[ApiKeyCreated] | type[ApiKeyRevoked], info: ApiKeyInfo) -> ApiKeyCreated | ApiKeyRevoked:
        return cls(
            team_id=info.team_id,
            correlation_id=f"api-key-{info.key_id}",
            actor=OPERATOR_ACTOR,
            occurred_at=utc_now(),
            key_id=info.key_id,
            name=info.name,
            channel=self._channel,
        )


class NewApiKeyIn(ApiModel):
    team_id: uuid.UUID | None = Field(default=None, description="The team; a new team id when omitted.")
    name: str = Field(default="default", min_length=1, max_length=200)


class NewApiKeyOut(BaseModel):
    team_id: uuid.UUID
    key_id: str
    api_key: str = Field(description="Shown once; only its hash is stored.")


class ApiKeyOut(BaseModel):
    key_id: str
    team_id: uuid.UUID
    name: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None = Field(description="When it was revoked; null while it is valid.")

    @classmethod
    def of(cls, info: ApiKeyInfo) -> ApiKeyOut:
        return cls(
            key_id=info.key_id,
            team_id=info.team_id,
            name=info.name,
            created_at=info.created_at,
            revoked_at=info.revoked_at,
        )


class ApiKeysOut(BaseModel):
    items: list[ApiKeyOut]


def admin_router(keys: KeyAdmin, bootstrap_secret: SecretStr) -> APIRouter:
    """``/v1/admin/api-keys``, every route protected by the bootstrap secret (``HERALD_BOOTSTRAP_SECRET``)."""
    expected = bootstrap_secret.get_secret_value().encode()

    async def bootstrap(
        secret: Annotated[str | None, Header(alias=BOOTSTRAP_HEADER, include_in_schema=True)] = None,
    ) -> None:
        if not secret or not hmac.compare_digest(secret.encode(), expected):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=f"missing or wrong {BOOTSTRAP_HEADER}")

    admin = APIRouter(
        prefix="/v1/admin",
        tags=["admin"],
        dependencies=[Depends(bootstrap)],
        responses={
            401: {**UNAUTHORIZED, "description": f"Missing or wrong {BOOTSTRAP_HEADER}."},
            422: INVALID,
            503: {"description": "The change could not be recorded for the audit log; nothing changed. Retry."},
        },
    )

    @admin.post("/api-keys", status_code=status.HTTP_201_CREATED)
    async def create_api_key(body: NewApiKeyIn) -> NewApiKeyOut:
        """Create a team API key; the key is returned once and only its hash is stored."""
        try:
            info, key = await keys.create(body.team_id or uuid.uuid4(), body.name)
        except PublishNotConfirmed as error:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(error)) from error
        return NewApiKeyOut(team_id=info.team_id, key_id=info.key_id, api_key=key)

    @admin.get("/api-keys")
    async def list_api_keys(
        team_id: Annotated[uuid.UUID | None, Query(description="Only this team's keys.")] = None,
    ) -> ApiKeysOut:
        """Team API keys, newest first (never their secrets)."""
        return ApiKeysOut(items=[ApiKeyOut.of(info) for info in await keys.list(team_id)])

    @admin.delete("/api-keys/{key_id}", responses={404: {"description": "No such key."}})
    async def revoke_api_key(key_id: Annotated[str, Path(pattern=_KEY_ID)]) -> ApiKeyOut:
        """Revoke a key (idempotent); the revocation is recorded in the audit log (``ApiKeyRevoked``)."""
        try:
            info = await keys.revoke(key_id)
        except PublishNotConfirmed as error:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, detail=f"not revoked: the audit event failed ({error}); retry"
            ) from error
        if info is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such API key")
        return ApiKeyOut.of(info)

    return admin


async def _run(args: argparse.Namespace, settings: ServiceSettings) -> object:
    await upgrade(settings.database_url.get_secret_value(), IDENTITY_MIGRATIONS, IDENTITY_SCHEMA)
    engine = db.create_engine(settings, IDENTITY_SCHEMA, pool_size=1)
    broker = build_broker(settings, CollectorRegistry())
    try:
        store = ApiKeyStore(engine)
        if args.command == "list-keys":
            return [ApiKeyOut.of(info).model_dump(mode="json") for info in await store.list(args.team)]
        await broker.connect()
        await declare_exchanges(broker)
        events = EventPublisher(
            broker, source=f"herald/{settings.service_name}", timeout=settings.publish_timeout_seconds
        )
        keys = KeyAdmin(store, events, KeyChannel.ADMIN_COMMAND)
        if args.command == "create-key":
            info, key = await keys.create(args.team or uuid.uuid4(), args.name)
            return {"team_id": str(info.team_id), "key_id": info.key_id, "api_key": key}
        revoked = await keys.revoke(args.key_id)
        return {"key_id": args.key_id, "revoked": revoked is not None}
    finally:
        await broker.stop()
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m herald.kit.admin", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create-key", help="create a team API key (printed once)")
    create.add_argument("--team", type=uuid.UUID, help="team id (a new team when omitted)")
    create.add_argument("--name", default="default")
    listing = sub.add_parser("list-keys", help="list keys (never their secrets)")
    listing.add_argument("--team", type=uuid.UUID, help="only this team's keys")
    revoke = sub.add_parser("revoke-key", help="revoke a key by its id (recorded in the audit log)")
    revoke.add_argument("key_id")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_run(args, load_settings(ServiceSettings)))))


if __name__ == "__main__":
    main()
