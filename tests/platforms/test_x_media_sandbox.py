"""The X sandbox's media upload rules over real HTTP, and tweepy's v1.1 ``API.media_upload`` against it."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import tweepy
from requests.adapters import HTTPAdapter

from herald.sandboxes.x.app import create_app
from herald.sandboxes.x.config import XSandboxConfig
from herald.sandboxes.x.uploads import MAX_SEGMENT_BYTES, MIB
from tests.support.servers import serve

UPLOAD_HOST = "https://upload.twitter.com"
API_HOST = "https://api.twitter.com"


class Sandbox:
    def __init__(self, base_url: str, http: httpx.Client) -> None:
        self.base_url = base_url
        self.http = http
        token = http.post("/_sandbox/tokens", json={"account": "uploader"}).json()["access_token"]
        self.auth = {"Authorization": f"Bearer {token}"}
        self.token = token

    def init(self, media_type: str, total_bytes: int, category: str | None = None) -> httpx.Response:
        body: dict[str, Any] = {"media_type": media_type, "total_bytes": total_bytes}
        if category:
            body["media_category"] = category
        return self.http.post("/2/media/upload/initialize", json=body, headers=self.auth)

    def append(self, media_id: str, index: int, data: bytes) -> httpx.Response:
        return self.http.post(
            f"/2/media/upload/{media_id}/append",
            data={"segment_index": str(index)},
            files={"media": ("blob", data, "application/octet-stream")},
            headers=self.auth,
        )

    def finalize(self, media_id: str) -> httpx.Response:
        return self.http.post(f"/2/media/upload/{media_id}/finalize", headers=self.auth)

    def status(self, media_id: str) -> httpx.Response:
        return self.http.get("/2/media/upload", params={"command": "STATUS", "media_id": media_id}, headers=self.auth)

    def uploaded(self, media_type: str, data: bytes, category: str | None = None) -> str:
        media_id: str = self.init(media_type, len(data), category).json()["data"]["id"]
        assert self.append(media_id, 0, data).status_code == 200
        assert self.finalize(media_id).status_code == 200
        return media_id

    def tweet(self, media_ids: list[str], text: str = "with media") -> httpx.Response:
        return self.http.post("/2/tweets", json={"text": text, "media": {"media_ids": media_ids}}, headers=self.auth)


def served(config: XSandboxConfig) -> Iterator[Sandbox]:
    with serve(create_app(config)) as base_url, httpx.Client(base_url=base_url, timeout=10) as http:
        yield Sandbox(base_url, http)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    yield from served(XSandboxConfig(enforce_rate_limits=False, media_processing_seconds=0.3))


def message(response: httpx.Response) -> str:
    text: str = response.json()["errors"][0]["message"]
    return text


def test_initialize_answers_an_id_a_key_and_the_lifetime(sandbox: Sandbox) -> None:
    response = sandbox.init("image/png", 1000, "tweet_image")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["id"].isdigit()
    assert data["media_key"] == f"3_{data['id']}"
    assert data["expires_after_secs"] == 86_400


@pytest.mark.parametrize(
    ("media_type", "size", "category", "expected"),
    [
        ("image/jpeg", 5 * MIB + 1, "tweet_image", "File size exceeds"),
        ("image/gif", 15 * MIB + 1, "tweet_gif", "File size exceeds"),
        ("video/mp4", 512 * MIB + 1, "tweet_video", "File size exceeds"),
        ("video/mp4", 100, "tweet_image", "not allowed for media_category"),
        ("image/png", 100, "tweet_gif", "not allowed for media_category"),
        ("image/png", 100, "tweet_sticker", "is not one of"),
        ("image/png", 0, "tweet_image", "total_bytes"),
    ],
)
def test_initialize_checks_type_and_size_per_category(
    sandbox: Sandbox, media_type: str, size: int, category: str, expected: str
) -> None:
    response = sandbox.init(media_type, size, category)
    assert response.status_code == 400
    assert response.json()["type"].endswith("/invalid-request")
    assert expected in message(response)


def test_segments_are_at_most_5_mb_in_order_and_must_add_up(sandbox: Sandbox) -> None:
    media_id = sandbox.init("video/mp4", 3000, "tweet_video").json()["data"]["id"]
    too_big = sandbox.append(media_id, 0, b"x" * (MAX_SEGMENT_BYTES + 1))
    assert too_big.status_code == 400
    assert "Segment size exceeds" in message(too_big)
    assert sandbox.append(media_id, 0, b"a" * 1000).status_code == 200
    skipped = sandbox.append(media_id, 2, b"c" * 1000)
    assert skipped.status_code == 400
    assert "in order" in message(skipped)
    assert sandbox.append(media_id, 0, b"a" * 1000).status_code == 200  # a resent segment replaces the first copy
    assert sandbox.append(media_id, 1, b"b" * 1000).status_code == 200
    short = sandbox.finalize(media_id)
    assert short.status_code == 400
    assert "2000 bytes received, 3000 declared" in message(short)
    over = sandbox.append(media_id, 2, b"c" * 1001)
    assert over.status_code == 400
    assert "exceeds the declared total_bytes" in message(over)


def test_video_processing_goes_pending_in_progress_succeeded(sandbox: Sandbox) -> None:
    media_id = sandbox.init("video/mp4", 10, "tweet_video").json()["data"]["id"]
    sandbox.append(media_id, 0, b"0123456789")
    finalized = sandbox.finalize(media_id).json()["data"]
    assert finalized["processing_info"]["state"] == "pending"
    assert "check_after_secs" in finalized["processing_info"]
    assert sandbox.tweet([media_id]).status_code == 400  # not processed yet
    time.sleep(0.2)
    assert sandbox.status(media_id).json()["data"]["processing_info"]["state"] == "in_progress"
    time.sleep(0.2)
    done = sandbox.status(media_id).json()["data"]
    assert done["processing_info"] == {"state": "succeeded", "progress_percent": 100}
    assert sandbox.tweet([media_id]).status_code == 201


def test_processing_fault_ends_failed_with_xs_error(sandbox: Sandbox) -> None:
    sandbox.http.post("/_sandbox/faults", json={"kind": "error", "operation": "processing", "error": "invalid_media"})
    media_id = sandbox.uploaded("video/mp4", b"0123456789", "tweet_video")
    time.sleep(0.35)
    info = sandbox.status(media_id).json()["data"]["processing_info"]
    assert info["state"] == "failed"
    assert info["error"] == {"code": 1, "name": "InvalidMedia", "message": "Unsupported video format"}
    assert sandbox.tweet([media_id]).status_code == 400


def test_tweets_refuse_unknown_expired_mixed_or_too_many_media(sandbox: Sandbox) -> None:
    images = [sandbox.uploaded("image/png", b"png" * 10 + bytes([n])) for n in range(5)]
    assert sandbox.tweet(["1880000000000009999"]).json()["errors"] == [{"message": "Your media IDs are invalid."}]
    assert sandbox.tweet(images).status_code == 400  # five images
    gif = sandbox.uploaded("image/gif", b"GIF89a....")
    time.sleep(0.35)
    assert sandbox.tweet([images[0], gif]).status_code == 400  # a GIF goes alone
    sandbox.http.post(f"/_sandbox/media/{images[1]}/expire")
    expired = sandbox.tweet([images[1]])
    assert expired.status_code == 400
    assert expired.json()["type"].endswith("/invalid-request")
    assert sandbox.append(images[1], 1, b"late").status_code == 400
    created = sandbox.tweet(images[2:], text="")  # media alone needs no text
    assert created.status_code == 201
    assert sandbox.tweet([gif]).status_code == 201


def test_someone_elses_media_id_is_invalid(sandbox: Sandbox) -> None:
    media_id = sandbox.uploaded("image/png", b"png-bytes")
    other = sandbox.http.post("/_sandbox/tokens", json={"account": "someone-else"}).json()["access_token"]
    response = sandbox.http.post(
        "/2/tweets",
        json={"text": "mine now", "media": {"media_ids": [media_id]}},
        headers={"Authorization": f"Bearer {other}"},
    )
    assert response.status_code == 400


def test_alt_text_is_set_on_images_and_refused_on_video(sandbox: Sandbox) -> None:
    image = sandbox.uploaded("image/png", b"png-bytes")
    body = {"id": image, "metadata": {"alt_text": {"text": "a chart"}}}
    answer = sandbox.http.post("/2/media/metadata", json=body, headers=sandbox.auth)
    assert answer.json() == {"data": {"associated_metadata": True, "id": image}}
    too_long = {"id": image, "metadata": {"alt_text": {"text": "a" * 1001}}}
    assert sandbox.http.post("/2/media/metadata", json=too_long, headers=sandbox.auth).status_code == 400
    clip = sandbox.uploaded("video/mp4", b"0123456789", "tweet_video")
    refused = {"id": clip, "metadata": {"alt_text": {"text": "a clip"}}}
    assert sandbox.http.post("/2/media/metadata", json=refused, headers=sandbox.auth).status_code == 400


def test_media_ids_expire_after_the_configured_lifetime() -> None:
    for sandbox in served(XSandboxConfig(media_expires_after_secs=1)):
        media_id = sandbox.uploaded("image/png", b"png-bytes")
        time.sleep(1.1)
        assert sandbox.tweet([media_id]).status_code == 400
        assert "expired" in message(sandbox.status(media_id))


def test_upload_needs_the_media_write_scope(sandbox: Sandbox) -> None:
    token = sandbox.http.post("/_sandbox/tokens", json={"account": "u", "scopes": ["tweet.write"]}).json()
    body = {"media_type": "image/png", "total_bytes": 10}
    response = sandbox.http.post(
        "/2/media/upload/initialize", json=body, headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert response.status_code == 403


# -- tweepy (v1.1 upload.twitter.com, the only media upload tweepy 4.x has) ------------------------------------------


class Rewrite(HTTPAdapter):
    """Sends X's hosts to the sandbox (docs/platforms.md, "Pointing the official SDKs at a sandbox")."""

    def __init__(self, base_url: str, host: str) -> None:
        super().__init__()
        self.base_url = base_url
        self.host = host

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        assert request.url is not None
        request.url = self.base_url + request.url.removeprefix(self.host)
        return super().send(request, *args, **kwargs)


def tweepy_pair(sandbox: Sandbox) -> tuple[tweepy.API, tweepy.Client]:
    api = tweepy.API(tweepy.OAuth2BearerHandler(sandbox.token))
    api.session.mount(UPLOAD_HOST, Rewrite(sandbox.base_url, UPLOAD_HOST))
    client = tweepy.Client(bearer_token=sandbox.token)
    client.session.mount(API_HOST, Rewrite(sandbox.base_url, API_HOST))
    return api, client


def test_tweepy_chunked_video_upload_waits_for_processing_and_posts(sandbox: Sandbox) -> None:
    api, client = tweepy_pair(sandbox)
    data = bytes(range(256)) * 20_000  # 5,120,000 bytes: tweepy sends 1 MiB segments
    media = api.media_upload("clip.mp4", file=io.BytesIO(data), media_category="tweet_video")
    assert media.processing_info["state"] == "succeeded"
    created = client.create_tweet(text="tweepy video", media_ids=[media.media_id_string], user_auth=False)
    [upload] = sandbox.http.get("/_sandbox/media").json()
    assert (upload["segments"], upload["received_bytes"]) == (5, len(data))
    posts = sandbox.http.get("/_sandbox/posts", params={"account": "uploader"}).json()
    assert posts[0]["id"] == created.data["id"]
    assert posts[0]["media_ids"] == [media.media_id_string]


def test_tweepy_simple_image_upload_with_alt_text(sandbox: Sandbox) -> None:
    api, _ = tweepy_pair(sandbox)
    media = api.media_upload("pic.png", file=io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"0" * 100))
    api.create_media_metadata(media.media_id_string, "a png")
    [upload] = sandbox.http.get("/_sandbox/media").json()
    assert (upload["media_type"], upload["alt_text"], upload["state"]) == ("image/png", "a png", "succeeded")


def test_tweepy_sees_xs_v1_error_for_a_bad_segment(sandbox: Sandbox) -> None:
    api, _ = tweepy_pair(sandbox)
    media = api.chunked_upload_init(10, "video/mp4", media_category="tweet_video")
    with pytest.raises(tweepy.BadRequest) as caught:
        api.chunked_upload_append(media.media_id, ("s", b"x" * 11), 0)
    assert caught.value.api_codes == [324]
