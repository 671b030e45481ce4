"""Who holds a media item: the scheduler's ``GET /internal/v1/media/{id}/holders?team_id=`` over HTTP.

The answer lists the distributions not yet finished whose content uses the item. Anything but a well-formed 200
(the scheduler down, slow, or refusing our credential) raises :class:`~herald.media.errors.SchedulerUnavailable`:
the caller must not delete what it cannot prove unused.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Protocol

import httpx
from pydantic import SecretStr

from herald.media.errors import SchedulerUnavailable

log = logging.getLogger(__name__)


class HolderLookup(Protocol):
    async def holders(self, team_id: uuid.UUID, media_id: uuid.UUID) -> list[dict[str, Any]]: ...


class SchedulerHolders:
    """The scheduler's answer, with this service's credential (``svc_media_...``)."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, token: SecretStr | None, timeout: float) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = timeout

    async def holders(self, team_id: uuid.UUID, media_id: uuid.UUID) -> list[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {self._token.get_secret_value()}"} if self._token else {}
        url = f"{self._base_url}/internal/v1/media/{media_id}/holders"
        try:
            response = await self._http.get(
                url, params={"team_id": str(team_id)}, headers=headers, timeout=self._timeout
            )
        except httpx.HTTPError as failure:
            log.warning("scheduler unreachable", extra={"error": type(failure).__name__})
            raise SchedulerUnavailable("the scheduler cannot say whether the media is in use; try again") from None
        if response.status_code != 200:
            log.warning("scheduler refused the holders lookup", extra={"status": response.status_code})
            raise SchedulerUnavailable("the scheduler cannot say whether the media is in use; try again")
        try:
            distributions = response.json()["distributions"]
        except (ValueError, KeyError, TypeError):
            distributions = None
        if not isinstance(distributions, list) or not all(isinstance(d, dict) for d in distributions):
            raise SchedulerUnavailable("the scheduler's answer about the media's use was not understood")
        return distributions
