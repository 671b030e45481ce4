"""Apply one Herald service's schema migrations, then exit: the ``migrate`` init container of every Deployment.

    python /etc/herald/migrate/migrate.py herald.scheduler

It builds the service exactly as the service does (settings from the same ``HERALD_*`` environment) and runs the
migrations its start-up would run (the shared ``identity`` schema for services with a public API, then the
service's own schema). Every migration takes a PostgreSQL advisory lock on its schema, so init containers of
several replicas starting at once migrate one after another, and the service's own start-up migration then finds
nothing to do. Mounted from the ``herald-migrate`` ConfigMap (kustomize generates it from this file).
"""

# Imports of the services stay inside the builders: each image installs only its own service.
# ruff: noqa: PLC0415
from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

from herald.kit.runtime import ServiceRuntime
from herald.kit.settings import load_settings


def _scheduler() -> ServiceRuntime:
    from herald.scheduler.main import build
    from herald.scheduler.settings import SchedulerSettings

    return build(load_settings(SchedulerSettings))[0]


def _tokens() -> ServiceRuntime:
    from herald.tokens.main import build
    from herald.tokens.settings import TokensSettings

    return build(load_settings(TokensSettings))[0]


def _audit() -> ServiceRuntime:
    from herald.audit.main import build
    from herald.audit.settings import AuditSettings

    return build(load_settings(AuditSettings))[0]


def _media() -> ServiceRuntime:
    # Only its runtime: migrating needs the database, not the object store the service itself is built around.
    from herald.media.main import MIGRATIONS, SCHEMA
    from herald.media.settings import MediaSettings

    return ServiceRuntime(load_settings(MediaSettings), schema=SCHEMA, migrations=MIGRATIONS, public_api=True)


def _publisher(platform: str) -> Callable[[], ServiceRuntime]:
    def runtime() -> ServiceRuntime:
        from herald.publishing.app import build
        from herald.publishing.settings import PublisherSettings

        overrides: dict[str, Any] = {"platform": platform, "service_name": f"publisher-{platform}"}
        return build(load_settings(PublisherSettings, **overrides))[0]

    return runtime


RUNTIMES: dict[str, Callable[[], ServiceRuntime]] = {
    "herald.scheduler": _scheduler,
    "herald.tokens": _tokens,
    "herald.audit": _audit,
    "herald.media": _media,
    "herald.publisher_x": _publisher("x"),
    "herald.publisher_linkedin": _publisher("linkedin"),
    "herald.publisher_meta": _publisher("meta"),
}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in RUNTIMES:
        print(f"usage: migrate.py {{{'|'.join(RUNTIMES)}}}", file=sys.stderr)
        return 2
    asyncio.run(RUNTIMES[argv[0]]().migrate())
    print(f"{argv[0]}: migrations applied", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
