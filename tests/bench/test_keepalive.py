"""The benchmark's lean HTTP client against a real uvicorn server: what it sends, what it reads, and that it keeps
its connections open between calls (that is what makes it cheap)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bench.keepalive import KeepAliveClient
from tests.support.servers import serve


def _app() -> FastAPI:
    app = FastAPI()
    app.state.peers = set()

    @app.post("/echo")
    async def echo(request: Request) -> JSONResponse:
        client = request.scope["client"]
        app.state.peers.add((client[0], client[1]))
        body = await request.json()
        seen = {
            "body": body,
            "authorization": request.headers.get("authorization"),
            "content_type": request.headers.get("content-type"),
        }
        return JSONResponse(seen, status_code=201 if body.get("ok") else 422)

    return app


@pytest.fixture
def served() -> Iterator[tuple[FastAPI, str]]:
    app = _app()
    with serve(app) as url:
        yield app, url


async def test_posts_json_with_the_headers_and_reads_the_answer(served: tuple[FastAPI, str]) -> None:
    _, url = served
    client = KeepAliveClient(url, {"Authorization": "Bearer hk_test"})
    body: dict[str, Any] = {"ok": True, "text": "héllo", "n": [1, 2]}
    answer = await client.post_json("/echo", body)
    await client.close()
    assert answer.status == 201
    assert answer.json() == {"body": body, "authorization": "Bearer hk_test", "content_type": "application/json"}


async def test_an_error_status_is_returned_not_hidden(served: tuple[FastAPI, str]) -> None:
    _, url = served
    client = KeepAliveClient(url, {})
    answer = await client.post_json("/echo", {"ok": False})
    await client.close()
    assert answer.status == 422


async def test_sequential_calls_reuse_one_connection(served: tuple[FastAPI, str]) -> None:
    app, url = served
    client = KeepAliveClient(url, {})
    for _ in range(5):
        assert (await client.post_json("/echo", {"ok": True})).status == 201
    await client.close()
    assert len(app.state.peers) == 1


def test_only_plain_http_urls() -> None:
    with pytest.raises(ValueError, match="only http"):
        KeepAliveClient("https://example.test", {})
