"""Publishing to LinkedIn through the current Posts API (``POST /rest/posts``) and reading posts back."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from herald.contracts.platform import Platform
from herald.platforms.base import (
    Account,
    ErrorClass,
    MediaContext,
    PlatformClient,
    PlatformError,
    PreparedPost,
    PublishedPost,
)
from herald.platforms.linkedin.errors import classify_response, classify_transport
from herald.platforms.linkedin.media import MediaUploader, media_shape_problem
from herald.platforms.linkedin.payloads import create_body, post_url
from herald.platforms.linkedin.readback import ReadBack
from herald.platforms.linkedin.restli import rest_headers
from herald.platforms.linkedin.settings import LinkedInSettings

CREATED_ID_HEADER = "x-restli-id"


class LinkedInClient(PlatformClient):
    """Publishes text, link, image, multi-image and video posts as a member or an organization.

    Uses the one shared ``httpx.AsyncClient``.
    """

    platform = Platform.LINKEDIN

    def __init__(self, settings: LinkedInSettings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http

    async def publish(
        self, account: Account, access_token: str, post: PreparedPost, media: MediaContext | None = None
    ) -> PublishedPost:
        """Upload ``post.media`` (resuming what ``media.memory`` recorded), then create the post once."""
        urns = await self._upload_media(account, access_token, post, media)
        body = create_body(account.platform_account_id, post, urns)
        response = await self._post(body, access_token)
        if response.status_code not in (200, 201):  # 201 documented; Postiz also accepts 200
            raise classify_response(response, creating=True, secrets=(access_token,))
        # The id is only in this header of an empty-bodied 201 (docs/platforms.md, "LinkedIn: posting"): never
        # look in the body.
        urn = response.headers.get(CREATED_ID_HEADER)
        if not urn:
            raise PlatformError(
                ErrorClass.UNKNOWN_OUTCOME,
                f"LinkedIn accepted the post ({response.status_code}) but sent no {CREATED_ID_HEADER} header",
                http_status=response.status_code,
            )
        return PublishedPost(
            post_id=urn, url=post_url(self._settings.web_base_url, urn), published_at=dt.datetime.now(dt.UTC)
        )

    async def find_published(
        self, account: Account, access_token: str, post: PreparedPost, since: dt.datetime
    ) -> PublishedPost | None:
        """Scan the author's newest posts (``q=author``, ``sortBy=CREATED``) for this commentary.

        Organizations need ``r_organization_social``. Members need the closed ``r_member_social``; without it
        LinkedIn answers 403 and this raises ``UNKNOWN_OUTCOME``: the pipeline then re-publishes the identical
        commentary, and a 422 ``DUPLICATE_POST`` names the existing post (``existing_post_id``).
        """
        return await ReadBack(self._settings, self._http, access_token).find(account, post, since)

    async def _upload_media(
        self, account: Account, access_token: str, post: PreparedPost, media: MediaContext | None
    ) -> list[str]:
        if not post.media:
            return []
        if media is None:
            raise PlatformError(ErrorClass.PERMANENT, "a LinkedIn post with media needs a MediaContext (Herald bug)")
        problem = media_shape_problem(post)
        if problem:
            raise PlatformError(ErrorClass.PERMANENT, problem, platform_code="linkedin.media")
        uploader = MediaUploader(self._settings, self._http, access_token, account.platform_account_id, media)
        return await uploader.upload_all(post.media)

    async def _post(self, body: dict[str, Any], access_token: str) -> httpx.Response:
        try:
            return await self._http.post(
                f"{self._settings.rest_url}/posts",
                json=body,
                headers=rest_headers(self._settings, access_token, method="CREATE"),
                timeout=self._settings.timeout_seconds,
            )
        except httpx.TransportError as error:
            raise classify_transport(error, creating=True) from error
