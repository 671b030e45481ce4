"""The scheduler's view of the media service: resolve a team's media ids to ``MediaReference`` snapshots.

Calls ``POST /internal/v1/media/resolve`` with the scheduler's own service credential (``svc_scheduler_...``), the
way publishers call the token service. Ids the media service does not know for that team (or is deleting) come
back in ``missing``; a media service that cannot answer raises :class:`MediaUnavailable` (the API's 503).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx
from pydantic import BaseModel, ValidationError

from herald.contracts.media import MediaReference

log = logging.getLogger(__name__)

RESOLVE_PATH = "/internal/v1/media/resolve"


class MediaUnavailable(Exception):
    """The media service could not resolve the ids now (unreachable, 5xx, refused our credential, bad answer)."""


@dataclass(frozen=True)
class Resolved:
    """``found`` by media id (without alt text); ``missing`` in the order asked."""

    found: dict[uuid.UUID, MediaReference]
    missing: list[uuid.UUID]


class MediaResolver(Protocol):
    async def resolve(self, team_id: uuid.UUID, media_ids: Sequence[uuid.UUID]) -> Resolved: ...


class _ResolveOut(BaseModel):
    items: list[MediaReference]
    missing: list[uuid.UUID]


class MediaClient:
    """:class:`MediaResolver` over HTTP. ``http`` is owned by the caller (closed on shutdown)."""

    def __init__(
        self, http: httpx.AsyncClient, base_url: str, credential: str | None, *, timeout_seconds: float
    ) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + RESOLVE_PATH
        self._headers = None if credential is None else {"Authorization": f"Bearer {credential}"}
        self._timeout = timeout_seconds

    async def resolve(self, team_id: uuid.UUID, media_ids: Sequence[uuid.UUID]) -> Resolved:
        if not media_ids:
            return Resolved({}, [])
        if self._headers is None:
            raise MediaUnavailable("the scheduler has no credential for the media service (HERALD_SERVICE_TOKEN)")
        body = {"team_id": str(team_id), "media_ids": [str(i) for i in dict.fromkeys(media_ids)]}
        try:
            response = await self._http.post(self._url, json=body, headers=self._headers, timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise MediaUnavailable(f"media service unreachable ({type(exc).__name__})") from None
        if response.status_code != 200:
            log.warning("media service refused a resolve", extra={"status": response.status_code})
            raise MediaUnavailable(f"media service answered {response.status_code}")
        try:
            answer = _ResolveOut.model_validate_json(response.content)
        except ValidationError:
            raise MediaUnavailable("media service answered something that is not a resolve result") from None
        return Resolved({item.media_id: item for item in answer.items}, answer.missing)
