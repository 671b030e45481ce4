"""A lean HTTP/1.1 client for the benchmark's hottest loop: many small JSON ``POST`` s to one service.

httpx spends about as much CPU per small request as the scheduler spends serving it, and on the 2-core machine
the benchmark's client competes with the services it measures, so the client's own cost shows up as their latency.
This client sends the same request bytes a browser or httpx would (method, path, ``Host``, ``Authorization``,
``Content-Type: application/json``, ``Content-Length``, the JSON body) over persistent connections, one request at
a time per connection, and reads a ``Content-Length`` response: what it measures is unchanged, its cost is about
a tenth. It only knows what Herald's API answers (no chunked bodies, no redirects, no TLS).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

IDLE_SECONDS = 2.0
"""uvicorn closes a connection idle for 5 s; one idle for longer than this is closed here first (no race)."""


class HttpError(RuntimeError):
    """The response was not what the caller expected (status, or a framing this client does not read)."""


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float

    def close(self) -> None:
        self.writer.close()


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class KeepAliveClient:
    """``POST`` JSON to one ``http://host:port`` over a pool of keep-alive connections (as many as callers at
    once); ``headers`` go on every request."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"{base_url}: only http://host:port is supported")
        self._host = parts.hostname
        self._port = parts.port or 80
        fixed = {"Host": parts.netloc, "Content-Type": "application/json", **headers}
        self._headers = "".join(f"{name}: {value}\r\n" for name, value in fixed.items()).encode("latin-1")
        self._idle: list[_Connection] = []

    async def post_json(self, path: str, body: Any) -> Answer:
        """One ``POST path`` with ``body`` as JSON; the status and body of the answer."""
        payload = json.dumps(body, separators=(",", ":")).encode()
        head = b"POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n" % (path.encode(), self._headers, len(payload))
        connection = self._checkout()
        if connection is None:
            reader, writer = await asyncio.open_connection(self._host, self._port)
            connection = _Connection(reader, writer, 0.0)
        try:
            connection.writer.write(head + payload)
            answer, keep = await _read_answer(connection.reader)
        except BaseException:
            connection.close()
            raise
        if keep:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()
        return answer

    def _checkout(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if now - connection.idle_since < IDLE_SECONDS and not connection.reader.at_eof():
                return connection
            connection.close()
        return None

    async def close(self) -> None:
        while self._idle:
            connection = self._idle.pop()
            connection.close()
            await connection.writer.wait_closed()


async def _read_answer(reader: asyncio.StreamReader) -> tuple[Answer, bool]:
    """The status and body of one response, and whether the connection may be used again."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head[:-4].decode("latin-1").split("\r\n")
    version, _, reason = status_line.partition(" ")
    status = reason.partition(" ")[0]
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" not in headers:
        raise HttpError(f"response without Content-Length ({status_line}): this client does not read it")
    body = await reader.readexactly(int(headers["content-length"]))
    keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    return Answer(int(status), body), keep
