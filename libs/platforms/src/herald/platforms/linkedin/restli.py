"""Request conventions of LinkedIn's versioned Rest.li API (``/rest/*``), shared by the client and OAuth code."""

from __future__ import annotations

from urllib.parse import quote

from herald.platforms.linkedin.settings import LinkedInSettings

PROTOCOL_VERSION = "2.0.0"


def rest_headers(settings: LinkedInSettings, access_token: str, *, method: str | None = None) -> dict[str, str]:
    """Headers every ``/rest`` call needs: without ``LinkedIn-Version`` LinkedIn answers 400 VERSION_MISSING."""
    headers = {
        "Authorization": f"Bearer {access_token}",
        "LinkedIn-Version": settings.api_version,
        "X-Restli-Protocol-Version": PROTOCOL_VERSION,
    }
    if method is not None:
        # The official client sends it (CREATE, FINDER); whether a plain POST needs it is not documented
        # (docs/platforms.md, "LinkedIn: posting"), so we send it too: it can only make the request more explicit.
        headers["X-RestLi-Method"] = method
    return headers


def encode_key(urn: str) -> str:
    """Rest.li 2.0 encoding of a URN used as a path key or query value (``:`` becomes ``%3A``)."""
    return quote(urn, safe="")
