"""Reading an author's posts back to decide whether an ambiguous create happened (docs/platforms.md,
"LinkedIn: read-back" and "Error classes")."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from herald.platforms.base import Account, ErrorClass, PlatformError, PreparedPost, PublishedPost
from herald.platforms.linkedin.errors import classify_response, classify_transport
from herald.platforms.linkedin.little_text import comparable, to_plain
from herald.platforms.linkedin.payloads import millis, published_from
from herald.platforms.linkedin.restli import encode_key, rest_headers
from herald.platforms.linkedin.settings import LinkedInSettings

# Our clock and LinkedIn's may disagree; scan a little further back than asked.
CLOCK_SKEW = dt.timedelta(minutes=2)
PERSON_PREFIX = "urn:li:person:"


class ReadBack:
    """One read-back: pages through ``GET /rest/posts?q=author&sortBy=CREATED`` (newest first) until ``since``."""

    def __init__(self, settings: LinkedInSettings, http: httpx.AsyncClient, access_token: str) -> None:
        self._settings = settings
        self._http = http
        self._token = access_token

    async def find(self, account: Account, post: PreparedPost, since: dt.datetime) -> PublishedPost | None:
        wanted = comparable(to_plain(post.text))
        oldest = since - CLOCK_SKEW
        size = self._settings.readback_page_size
        for page in range(self._settings.readback_max_pages):
            elements = await self._page(account.platform_account_id, start=page * size)
            for element in elements:
                if _created_before(element, oldest):
                    return None
                if comparable(to_plain(str(element.get("commentary", "")))) == wanted:
                    return published_from(element, self._settings.web_base_url)
            if len(elements) < size:
                return None
        raise PlatformError(
            ErrorClass.UNKNOWN_OUTCOME,
            f"LinkedIn read-back scanned {self._settings.readback_max_pages * size} posts without reaching {since}",
        )

    async def _page(self, author: str, *, start: int) -> list[dict[str, Any]]:
        response = await self._get(author, start)
        if response.status_code == 403:
            raise _cannot_read(author, response)
        if response.status_code != 200:
            raise classify_response(response, creating=False, secrets=(self._token,))
        try:
            elements = response.json().get("elements", [])
        except ValueError as error:
            raise PlatformError(ErrorClass.RETRY_LATER, "LinkedIn post listing was not JSON") from error
        return [e for e in elements if isinstance(e, dict)]

    async def _get(self, author: str, start: int) -> httpx.Response:
        query = f"q=author&author={encode_key(author)}&sortBy=CREATED&start={start}"
        try:
            return await self._http.get(
                f"{self._settings.rest_url}/posts?{query}&count={self._settings.readback_page_size}",
                headers=rest_headers(self._settings, self._token, method="FINDER"),
                timeout=self._settings.timeout_seconds,
            )
        except httpx.TransportError as error:
            raise classify_transport(error, creating=False) from error


def _created_before(element: dict[str, Any], oldest: dt.datetime) -> bool:
    created = millis(element.get("createdAt"))
    return created is not None and created < oldest


def _cannot_read(author: str, response: httpx.Response) -> PlatformError:
    member = author.startswith(PERSON_PREFIX)
    if member:
        reason = (
            "LinkedIn member posts cannot be read back without the closed r_member_social permission; "
            "re-publish the identical commentary: a 422 DUPLICATE_POST names the existing post"
        )
    else:
        reason = "LinkedIn refused to list the organization's posts (needs r_organization_social and a page role)"
    return PlatformError(
        ErrorClass.UNKNOWN_OUTCOME,
        reason,
        http_status=response.status_code,
        platform_code="ACCESS_DENIED",
        response_excerpt=response.text[:300],
        # Reference section 4: for members, sending the identical commentary again either creates the post (it was
        # not there) or answers 422 DUPLICATE_POST with the existing URN, so a re-send cannot post twice.
        resend_is_safe=member,
    )
