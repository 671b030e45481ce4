"""The HTTP client the publishers call platforms with: httpx's interface over aiohttp's connection pool.

Every adapter talks to one ``httpx.AsyncClient`` (its requests, responses and exceptions are what the adapters and
their tests know). Under it, httpx's own transport (httpcore, h11, anyio) costs about 0.6 ms of CPU per call, most of
a publisher's HTTP time in the burst's profile; aiohttp's pool with its C parser does the same exchange for about a
quarter of that. :class:`AiohttpTransport` is an ``httpx.AsyncBaseTransport``: the client layer (URL, headers, JSON,
redirect policy, decompression) is httpx's as before, only the exchange on the socket changes.

What must not change is what a failure *means*: an adapter treats ``ConnectError``, ``ConnectTimeout`` and
``PoolTimeout`` as "the request was never sent" (safe to send again) and any other transport error on a create as
"it may have been published" (read back first). :func:`_httpx_error` keeps that: only failures aiohttp raises before
a connection exists become the first kind.

Requests whose body is not small and in memory (multipart media segments, upload ranges) go through httpx's own
transport, created on first use: its per-operation write timeout bounds a stalled upload, which aiohttp has no
equivalent of.
"""

from __future__ import annotations

import ssl
import urllib.request
from typing import Any

import aiohttp
import httpx
from multidict import CIMultiDict
from yarl import URL

SMALL_BODY_BYTES = 64 * 1024
"""Bodies up to this size, already in memory (JSON, forms), go through aiohttp; the rest through httpx's transport."""
MAX_HEADER_BYTES = 64 * 1024
"""A response header line may be this long (aiohttp's default of 8 KiB is stricter than httpcore's)."""


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport that exchanges small requests over an aiohttp connection pool (see the module docstring).

    The aiohttp session is opened on the first request, inside the running event loop. Close with ``aclose`` (the
    ``httpx.AsyncClient`` built over it does so when it is closed).
    """

    def __init__(self, *, limits: httpx.Limits, ssl_context: ssl.SSLContext) -> None:
        self._limits = limits
        self._ssl = ssl_context
        self._session: aiohttp.ClientSession | None = None
        self._fallback: httpx.AsyncHTTPTransport | None = None
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"Request URL has an unsupported protocol '{request.url.scheme}://'.")
        stream = request.stream
        if not isinstance(stream, httpx.ByteStream) or len(request.content) > SMALL_BODY_BYTES:
            return await self._upload_transport().handle_async_request(request)
        timeout = self._timeout(request.extensions.get("timeout") or {})
        body = request.content or None
        try:
            async with self._open().request(
                request.method,
                URL(str(request.url), encoded=True),  # httpx has encoded it already: send it as it is
                headers=CIMultiDict(request.headers.multi_items()),
                data=body,
                skip_auto_headers=("Content-Type",),  # httpx decided the request's headers
                allow_redirects=False,  # httpx's client follows redirects, if asked
                timeout=timeout,
            ) as answer:
                content = await answer.read()
                return httpx.Response(
                    answer.status,
                    headers=list(answer.raw_headers),
                    content=content,  # still encoded: httpx decodes it by its Content-Encoding, as it always does
                    extensions={
                        "http_version": f"HTTP/{answer.version.major}.{answer.version.minor}".encode()
                        if answer.version
                        else b"HTTP/1.1",
                        "reason_phrase": (answer.reason or "").encode(),
                    },
                    request=request,
                )
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise _httpx_error(error, request) from error

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._fallback is not None:
            await self._fallback.aclose()
            self._fallback = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            expiry = self._limits.keepalive_expiry
            connector = aiohttp.TCPConnector(
                limit=self._limits.max_connections or 0,
                limit_per_host=0,
                keepalive_timeout=expiry if expiry is not None else 5.0,
                ssl=self._ssl,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,  # httpx decodes the body, as with its own transport
                cookie_jar=aiohttp.DummyCookieJar(),  # cookies are httpx's client's business
                trust_env=False,  # proxies: see platform_http_client
                max_line_size=MAX_HEADER_BYTES,
                max_field_size=MAX_HEADER_BYTES,
            )
        return self._session

    def _upload_transport(self) -> httpx.AsyncHTTPTransport:
        if self._fallback is None:
            self._fallback = httpx.AsyncHTTPTransport(verify=self._ssl, limits=self._limits)
        return self._fallback

    def _timeout(self, phases: dict[str, float | None]) -> aiohttp.ClientTimeout:
        """httpx's per-phase timeouts in aiohttp's terms: ``connect`` covers waiting for a pooled connection and
        opening one; ``sock_read`` bounds each wait for the answer; a body this small is written at once, and
        ``total`` (all phases added up) stands in for httpx's write timeout in case the peer stops reading."""
        connect, read, write, pool = (phases.get(k) for k in ("connect", "read", "write", "pool"))
        key = (connect, read, write, pool)
        found = self._timeouts.get(key)
        if found is None:
            parts = (connect, read, write, pool)
            found = aiohttp.ClientTimeout(
                total=sum(p for p in parts if p is not None) if all(p is not None for p in parts) else None,
                connect=(connect or 0) + (pool or 0) if connect is not None and pool is not None else None,
                sock_connect=connect,
                sock_read=read,
            )
            self._timeouts[key] = found
        return found


def _httpx_error(error: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx exception an adapter classifies, for what aiohttp raised.

    Only failures before any connection was ready for the request (it cannot have been sent) become ``ConnectError``
    or ``ConnectTimeout``; everything after is a read/protocol error, which a create treats as an unknown outcome.
    """
    message = f"{type(error).__name__}: {error}"
    mapped: httpx.TransportError
    if isinstance(error, aiohttp.ConnectionTimeoutError):  # waiting for the pool or for the connection
        mapped = httpx.ConnectTimeout(message, request=request)
    elif isinstance(error, aiohttp.ClientConnectorError):  # refused, DNS, TLS handshake: nothing was sent
        mapped = httpx.ConnectError(message, request=request)
    elif isinstance(error, TimeoutError):  # a read timeout, or the total bound: the request may have arrived
        mapped = httpx.ReadTimeout(message, request=request)
    elif isinstance(error, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        mapped = httpx.RemoteProtocolError(message, request=request)
    elif isinstance(error, aiohttp.InvalidURL):
        mapped = httpx.UnsupportedProtocol(message, request=request)
    elif isinstance(error, ConnectionResetError | BrokenPipeError):
        mapped = httpx.WriteError(message, request=request)
    else:
        mapped = httpx.ReadError(message, request=request)
    return mapped


class _NoCookies(httpx.Cookies):
    """A cookie store that never keeps or sends a cookie."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None

    def __bool__(self) -> bool:
        return False


class CookielessClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` that keeps no cookies.

    Platform APIs authenticate each call with the account's token; a cookie one account's answer sets (a load
    balancer's or a tracking cookie) must not ride along on the next account's call through this shared client. It
    also spares httpx's cookie jar work on every response (the standard library's ``CookieJar`` behind request and
    response adapters), about 4% of a publisher's CPU in the burst's profile.
    """

    _no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        raise TypeError("a platform client keeps no cookies")


def platform_http_client(*, timeout: float, limits: httpx.Limits, **options: Any) -> httpx.AsyncClient:
    """The one ``httpx.AsyncClient`` a publisher calls its platform (and the token service) with: cookieless.

    Over :class:`AiohttpTransport`, with httpx's own TLS settings (certifi, or ``SSL_CERT_FILE``). When the
    environment names an HTTP proxy, httpx's own transport is kept: it honours ``HTTPS_PROXY`` and ``NO_PROXY``.
    """
    if urllib.request.getproxies():
        return CookielessClient(timeout=timeout, limits=limits, **options)
    transport = AiohttpTransport(limits=limits, ssl_context=httpx.create_ssl_context())
    return CookielessClient(timeout=timeout, transport=transport, **options)


__all__ = ["SMALL_BODY_BYTES", "AiohttpTransport", "CookielessClient", "platform_http_client"]
