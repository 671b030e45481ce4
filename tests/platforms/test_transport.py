"""The publishers' HTTP transport (httpx over aiohttp): the same exchange on the wire as httpx's own transport, and
failures that mean the same thing ("never sent" only when nothing can have been sent)."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from herald.platforms.transport import SMALL_BODY_BYTES, AiohttpTransport, platform_http_client
from tests.support.servers import closed_port

Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Received"], Awaitable[None]]


@dataclass
class Received:
    """One request as it arrived on the socket."""

    head: list[str] = field(default_factory=list)
    body: bytes = b""

    @property
    def request_line(self) -> str:
        return self.head[0]

    @property
    def headers(self) -> dict[str, str]:
        pairs = (line.split(":", 1) for line in self.head[1:])
        return {name.strip().lower(): value.strip() for name, value in pairs}


async def _read_request(reader: asyncio.StreamReader) -> Received:
    raw = await reader.readuntil(b"\r\n\r\n")
    received = Received(head=raw.decode("latin-1").split("\r\n")[:-2])
    length = int(received.headers.get("content-length", "0"))
    received.body = await reader.readexactly(length) if length else b""
    return received


def _response(status: str, body: bytes, *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"content-length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def answer_json(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: Received) -> None:
    body = json.dumps({"data": {"id": "1460323737035677698"}}).encode()
    writer.write(_response("201 Created", body, "content-type: application/json", "x-rate-limit-remaining: 299"))


async def answer_gzip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: Received) -> None:
    body = gzip.compress(b'{"ok": true}')
    writer.write(_response("200 OK", body, "content-type: application/json", "content-encoding: gzip"))


@asynccontextmanager
async def server(answer: Answer) -> AsyncIterator[tuple[str, list[Received]]]:
    """A loopback HTTP/1.1 server that records each request and answers it with ``answer`` (keep-alive)."""
    seen: list[Received] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                received = await _read_request(reader)
                seen.append(received)
                await answer(reader, writer, received)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    listening = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        listening.close()


def aiohttp_client(**options: object) -> httpx.AsyncClient:
    return platform_http_client(timeout=2.0, limits=httpx.Limits(max_connections=4), **options)


REQUESTS: list[tuple[str, str, dict[str, object]]] = [
    ("POST", "/2/tweets", {"json": {"text": "Hello ünïcode & <world>"}, "headers": {"Authorization": "Bearer t"}}),
    ("GET", "/2/users/42/tweets", {"params": {"start_time": "2026-12-04T10:00:00Z", "tweet.fields": "created_at"}}),
    ("POST", "/v21.0/123/feed", {"data": {"message": "a b+c", "link": "https://e.example/?q=1"}}),
    ("DELETE", "/rest/posts/urn%3Ali%3Ashare%3A1", {"headers": {"X-Restli-Protocol-Version": "2.0.0"}}),
]


@pytest.mark.parametrize(("method", "path", "options"), REQUESTS, ids=[r[0] + " " + r[1] for r in REQUESTS])
async def test_the_same_bytes_go_out_and_the_same_response_comes_back(
    method: str, path: str, options: dict[str, object]
) -> None:
    async with server(answer_json) as (url, seen):
        answers = []
        for client in (httpx.AsyncClient(timeout=2.0), aiohttp_client()):
            async with client:
                answers.append(await client.request(method, url + path, **options))  # type: ignore[arg-type]
    by_httpx, by_aiohttp = seen
    assert by_aiohttp.request_line == by_httpx.request_line
    ours_sent, theirs_sent = by_aiohttp.headers, by_httpx.headers
    if method == "DELETE":  # aiohttp says "Content-Length: 0" for a DELETE without a body (RFC 9110 allows it)
        assert ours_sent.pop("content-length") == "0"
    assert ours_sent == theirs_sent
    assert by_aiohttp.body == by_httpx.body
    theirs, ours = answers
    assert ours.status_code == theirs.status_code == 201
    assert ours.reason_phrase == theirs.reason_phrase == "Created"
    assert ours.http_version == "HTTP/1.1"
    assert ours.headers["x-rate-limit-remaining"] == "299"
    assert ours.json() == theirs.json() == {"data": {"id": "1460323737035677698"}}


async def test_connections_are_kept_alive_and_reused() -> None:
    connections = 0

    async def counting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: Received) -> None:
        await answer_json(reader, writer, received)

    async with server(counting) as (url, seen), aiohttp_client() as client:
        for _ in range(5):
            assert (await client.post(url + "/2/tweets", json={"text": "x"})).status_code == 201
        transport = client._transport
        assert isinstance(transport, AiohttpTransport)
        session = transport._session
        assert session is not None
        connections = len(session.connector._conns)  # type: ignore[union-attr]
    assert len(seen) == 5
    assert connections == 1  # one idle pooled connection served all five


async def test_a_compressed_body_is_decoded_by_httpx() -> None:
    async with server(answer_gzip) as (url, _), aiohttp_client() as client:
        response = await client.get(url + "/x")
    assert response.json() == {"ok": True}


async def test_a_refused_connection_is_never_sent() -> None:
    with closed_port() as port:
        async with aiohttp_client() as client:
            with pytest.raises(httpx.ConnectError):
                await client.post(f"http://127.0.0.1:{port}/2/tweets", json={"text": "x"})


async def test_a_connection_closed_after_the_request_is_not_never_sent() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: Received) -> None:
        writer.close()

    async with server(hang_up) as (url, seen), aiohttp_client() as client:
        with pytest.raises(httpx.TransportError) as caught:
            await client.post(url + "/2/tweets", json={"text": "x"})
    assert len(seen) == 1  # it arrived: the caller must treat the outcome as unknown
    assert not isinstance(caught.value, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    assert isinstance(caught.value, httpx.RemoteProtocolError)


async def test_no_answer_in_time_is_a_read_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: Received) -> None:
        await asyncio.sleep(5)

    async with server(silent) as (url, seen), aiohttp_client() as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(url + "/2/tweets", json={"text": "x"}, timeout=0.3)
    assert len(seen) == 1


async def test_waiting_for_a_pooled_connection_is_never_sent() -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: Received) -> None:
        await asyncio.sleep(1)
        await answer_json(reader, writer, received)

    async with server(slow) as (url, seen):
        limits = httpx.Limits(max_connections=1)
        async with platform_http_client(timeout=2.0, limits=limits) as client:
            first = asyncio.create_task(client.post(url + "/a", json={}))
            await asyncio.sleep(0.2)
            with pytest.raises((httpx.ConnectTimeout, httpx.PoolTimeout)):
                await client.post(url + "/b", json={}, timeout=httpx.Timeout(2.0, pool=0.1, connect=0.1))
            assert (await first).status_code == 201
    assert [r.request_line for r in seen] == ["POST /a HTTP/1.1"]


async def test_large_and_multipart_bodies_go_through_httpx_own_transport() -> None:
    async with server(answer_json) as (url, seen), aiohttp_client() as client:
        segment = bytes(range(256)) * 64
        await client.post(url + "/media", data={"segment_index": "0"}, files={"media": ("s", segment, "x/y")})
        await client.put(url + "/upload", content=b"z" * (SMALL_BODY_BYTES + 1))
        transport = client._transport
        assert isinstance(transport, AiohttpTransport)
        assert transport._fallback is not None
        assert transport._session is None  # nothing small was sent
    multipart, upload = seen
    assert segment in multipart.body
    assert multipart.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert upload.body == b"z" * (SMALL_BODY_BYTES + 1)


async def test_only_http_urls() -> None:
    async with aiohttp_client() as client:
        with pytest.raises(httpx.UnsupportedProtocol):
            await client.get("ftp://127.0.0.1/file")


def test_an_environment_proxy_keeps_httpx_own_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    client = platform_http_client(timeout=1.0, limits=httpx.Limits())
    assert not isinstance(client._transport, AiohttpTransport)
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.delenv("https_proxy", raising=False)
    assert isinstance(platform_http_client(timeout=1.0, limits=httpx.Limits())._transport, AiohttpTransport)


async def test_a_cookie_one_answer_sets_never_rides_on_the_next_call() -> None:
    """One client serves every account of a platform: a cookie set for one account's call must not reach another's."""

    async def sets_a_cookie(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: Received) -> None:
        body = b'{"ok": true}'
        writer.write(_response("200 OK", body, "content-type: application/json", "set-cookie: lidc=account-a; Path=/"))

    for client, kept in ((httpx.AsyncClient(timeout=2.0), True), (aiohttp_client(), False)):
        async with server(sets_a_cookie) as (url, seen), client:
            await client.get(url + "/rest/posts", headers={"Authorization": "Bearer account-a"})
            await client.get(url + "/rest/posts", headers={"Authorization": "Bearer account-b"})
        first, second = seen
        assert "cookie" not in first.headers
        assert ("cookie" in second.headers) is kept  # plain httpx would send it: the check can tell
        assert bool(client.cookies) is kept


def test_a_platform_client_refuses_cookies() -> None:
    with pytest.raises(TypeError):
        platform_http_client(timeout=1.0, limits=httpx.Limits()).cookies = {"lidc": "x"}
