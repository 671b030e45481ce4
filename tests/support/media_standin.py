"""A stand-in for the media service's internal resolve API, served over real HTTP, for the scheduler's tests.

It knows the items a test gives it (per team), checks the caller's service credential like the real service, and can
be switched to failing (``status``) to play a media service that cannot answer. It records every resolve call.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from herald.contracts.media import MediaKind, MediaReference
from herald.kit.auth import new_service_credential
from tests.support.servers import serve

CALLER = "scheduler"


class _ResolveIn(BaseModel):
    team_id: uuid.UUID
    media_ids: list[uuid.UUID]


@dataclass
class MediaStandIn:
    """What the stand-in knows and does; change it from the test while it serves."""

    credential: str
    """The bearer token the scheduler must send (``svc_scheduler_...``)."""
    items: dict[tuple[uuid.UUID, uuid.UUID], MediaReference] = field(default_factory=dict)
    status: int = 200
    """Anything but 200 makes every resolve answer that status (503: the service is in trouble)."""
    calls: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def add(
        self,
        team_id: uuid.UUID,
        kind: MediaKind = MediaKind.IMAGE,
        *,
        size_bytes: int = 120_000,
        content_type: str | None = None,
        width: int | None = 1080,
        height: int | None = 1080,
        duration_ms: int | None = None,
    ) -> MediaReference:
        """Register an item of ``team_id`` (as an upload would) and return its reference."""
        media_id = uuid.uuid4()
        default_type = {MediaKind.IMAGE: "image/jpeg", MediaKind.GIF: "image/gif", MediaKind.VIDEO: "video/mp4"}
        if kind is MediaKind.VIDEO and duration_ms is None:
            duration_ms = 12_000
        reference = MediaReference(
            media_id=media_id,
            storage_key=f"teams/{team_id}/media/{media_id}",
            kind=kind,
            content_type=content_type or default_type[kind],
            size_bytes=size_bytes,
            sha256=hashlib.sha256(media_id.bytes).hexdigest(),
            width=width,
            height=height,
            duration_ms=duration_ms,
        )
        self.items[(team_id, media_id)] = reference
        return reference

    def app(self) -> FastAPI:
        app = FastAPI()
        expected = f"Bearer {self.credential}"

        @app.post("/internal/v1/media/resolve")
        async def resolve(body: _ResolveIn, authorization: str = Header(default="")) -> JSONResponse:
            if authorization != expected:
                raise HTTPException(401, "unknown service credential")
            self.calls.append(body.model_dump(mode="json"))
            if self.status != 200:
                return JSONResponse({"detail": "media service in trouble"}, status_code=self.status)
            found = [self.items[(body.team_id, i)] for i in body.media_ids if (body.team_id, i) in self.items]
            missing = [str(i) for i in body.media_ids if (body.team_id, i) not in self.items]
            items = [ref.model_dump(mode="json", exclude={"alt_text"}) for ref in found]
            return JSONResponse({"items": items, "missing": missing})

        return app


@contextmanager
def media_standin() -> Iterator[MediaStandIn]:
    """Serve a stand-in; its ``url`` and ``credential`` go into the scheduler's settings."""
    credential, _ = new_service_credential(CALLER)
    standin = MediaStandIn(credential=credential)
    with serve(standin.app()) as url:
        standin.url = url
        yield standin
