"""Operator commands for team API keys: ``python -m herald.kit.admin create-key --team UUID --name NAME``."""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid

from herald.kit import db
from herald.kit.auth import IDENTITY_MIGRATIONS, IDENTITY_SCHEMA, ApiKeyStore
from herald.kit.migrations import upgrade
from herald.kit.settings import ServiceSettings, load_settings


async def _run(args: argparse.Namespace, settings: ServiceSettings) -> dict[str, object]:
    await upgrade(settings.database_url.get_secret_value(), IDENTITY_MIGRATIONS, IDENTITY_SCHEMA)
    engine = db.create_engine(settings, IDENTITY_SCHEMA, pool_size=1)
    store = ApiKeyStore(engine)
    try:
        if args.command == "create-key":
            principal, key = await store.create(args.team or uuid.uuid4(), args.name)
            return {"team_id": str(principal.team_id), "key_id": principal.key_id, "api_key": key}
        return {"key_id": args.key_id, "revoked": await store.revoke(args.key_id)}
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m herald.kit.admin", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create-key", help="create a team API key (printed once)")
    create.add_argument("--team", type=uuid.UUID, help="team id (a new team when omitted)")
    create.add_argument("--name", default="default")
    revoke = sub.add_parser("revoke-key", help="revoke a key by its id")
    revoke.add_argument("key_id")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_run(args, load_settings(ServiceSettings)))))


if __name__ == "__main__":
    main()
