"""Conformance: Meta's official ``facebook-business`` SDK against the sandbox over real HTTP, unchanged except
for the Graph host (``FacebookSession.GRAPH``, docs/platforms.md "Pointing the official SDKs at a sandbox"), set on
the session instance, not the class.

The SDK is synchronous; these tests are plain sync tests with a module-scoped served sandbox.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from facebook_business.adobjects.iguser import IGUser
from facebook_business.adobjects.page import Page
from facebook_business.adobjects.pagepost import PagePost
from facebook_business.api import FacebookAdsApi
from facebook_business.exceptions import FacebookRequestError
from facebook_business.session import FacebookSession

from herald.sandboxes.meta.app import create_app
from tests.platforms.test_meta_support import CLIENT_ID, CLIENT_SECRET, IG_USER_ID, PAGE_ID, USER_ID
from tests.support.media import FakeMediaSource, served_media
from tests.support.servers import serve


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve(create_app()) as url:
        yield url


@pytest.fixture
def control(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url) as client:
        client.delete("/_sandbox/faults").raise_for_status()
        yield client


def mint(control: httpx.Client, account: str = PAGE_ID) -> str:
    response = control.post("/_sandbox/tokens", json={"account": account})
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def sdk(base_url: str, token: str, *, app_secret: str | None = None, version: str | None = None) -> FacebookAdsApi:
    session = FacebookSession(CLIENT_ID if app_secret else None, app_secret, token, timeout=5)
    session.GRAPH = base_url  # the class attribute the SDK builds every URL from
    return FacebookAdsApi(session, api_version=version)


def text() -> str:
    return f"SDK conformance {uuid.uuid4().hex[:10]}"


def test_create_feed_returns_the_post_id(base_url: str, control: httpx.Client) -> None:
    message = text()
    post = Page(PAGE_ID, api=sdk(base_url, mint(control))).create_feed(params={"message": message})
    assert post["id"].startswith(f"{PAGE_ID}_")
    stored = control.get("/_sandbox/posts", params={"account": PAGE_ID}).json()
    assert [p["id"] for p in stored if p["text"] == message] == [post["id"]]


def test_raw_call_with_link_and_the_sdk_default_version(base_url: str, control: httpx.Client) -> None:
    api = sdk(base_url, mint(control))
    response = api.call("POST", (PAGE_ID, "feed"), params={"message": text(), "link": "https://example.com/sdk"})
    assert response.status() == 200
    assert response.headers()["facebook-api-version"] == FacebookAdsApi.API_VERSION  # v26.0 in SDK 26
    post_id = response.json()["id"]
    stored = {p["id"]: p for p in control.get("/_sandbox/posts", params={"account": PAGE_ID}).json()}
    assert stored[post_id]["link"] == "https://example.com/sdk"


def test_appsecret_proof_is_verified(base_url: str, control: httpx.Client) -> None:
    token = mint(control)
    post = Page(PAGE_ID, api=sdk(base_url, token, app_secret=CLIENT_SECRET)).create_feed(params={"message": text()})
    assert post["id"]
    with pytest.raises(FacebookRequestError) as caught:
        Page(PAGE_ID, api=sdk(base_url, token, app_secret="wrong-secret")).create_feed(params={"message": text()})
    assert caught.value.api_error_code() == 100
    assert caught.value.api_error_type() == "GraphMethodException"


def test_published_posts_cursor_pages_through_everything(base_url: str, control: httpx.Client) -> None:
    account = f"2{uuid.uuid4().int % 10**14:014d}"  # a fresh Page
    api = sdk(base_url, mint(control, account), version="v25.0")
    messages = [text() for _ in range(5)]
    for message in messages:
        Page(account, api=api).create_feed(params={"message": message})
    cursor = Page(account, api=api).get_published_posts(fields=["id", "message", "created_time"], params={"limit": 2})
    assert [post["message"] for post in cursor] == list(reversed(messages))


def test_published_posts_with_explicit_fields_carry_usable_ids(base_url: str, control: httpx.Client) -> None:
    # Graph returns every node's id whether or not ``fields`` asks for it; the SDK builds its objects from it.
    account = f"2{uuid.uuid4().int % 10**14:014d}"
    api = sdk(base_url, mint(control, account), version="v25.0")
    messages = [text() for _ in range(3)]
    created = [Page(account, api=api).create_feed(params={"message": message})["id"] for message in messages]
    posts = list(Page(account, api=api).get_published_posts(fields=["message", "created_time"], params={"limit": 2}))
    assert [post["id"] for post in posts] == list(reversed(created))
    assert all(post.get_id() == post["id"] for post in posts)
    latest = PagePost(posts[0].get_id(), api=api).api_get(fields=["message"])
    assert (latest["id"], latest["message"]) == (created[-1], messages[-1])


def test_a_transient_server_error_is_parsed(base_url: str, control: httpx.Client) -> None:
    control.post("/_sandbox/faults", json={"kind": "error", "error": "server_error", "account": PAGE_ID})
    with pytest.raises(FacebookRequestError) as caught:
        Page(PAGE_ID, api=sdk(base_url, mint(control))).create_feed(params={"message": text()})
    error = caught.value
    assert (error.http_status(), error.api_error_code(), error.api_transient_error()) == (500, 2, True)
    assert error.api_error_type() == "OAuthException"


def test_an_expired_token_is_parsed_with_its_subcode(base_url: str, control: httpx.Client) -> None:
    account = f"3{uuid.uuid4().int % 10**14:014d}"
    token = mint(control, account)
    control.post(f"/_sandbox/accounts/{account}/expire").raise_for_status()
    with pytest.raises(FacebookRequestError) as caught:
        Page(account, api=sdk(base_url, token)).create_feed(params={"message": text()})
    error = caught.value
    assert (error.api_error_code(), error.api_error_subcode(), error.api_transient_error()) == (190, 463, False)
    assert error.api_error_message().startswith("Error validating access token: Session has expired on ")


def test_a_duplicate_and_a_throttle_are_parsed(base_url: str, control: httpx.Client) -> None:
    page = Page(PAGE_ID, api=sdk(base_url, mint(control)))
    message = text()
    page.create_feed(params={"message": message})
    with pytest.raises(FacebookRequestError) as duplicate:
        page.create_feed(params={"message": message})
    assert (duplicate.value.http_status(), duplicate.value.api_error_code()) == (400, 506)

    control.post("/_sandbox/faults", json={"kind": "error", "error": "rate_limited", "account": PAGE_ID})
    with pytest.raises(FacebookRequestError) as limited:
        page.create_feed(params={"message": text()})
    assert limited.value.api_error_code() == 80001
    assert "estimated_time_to_regain_access" in limited.value.http_headers()["x-business-use-case-usage"]


def test_posting_with_a_user_token_is_403_code_200(base_url: str, control: httpx.Client) -> None:
    with pytest.raises(FacebookRequestError) as caught:
        Page(PAGE_ID, api=sdk(base_url, mint(control, USER_ID))).create_feed(params={"message": text()})
    assert (caught.value.http_status(), caught.value.api_error_code()) == (403, 200)
    assert caught.value.api_error_message().startswith("(#200) If posting to a group")


# -- Media: Page photos and videos, Instagram containers (the SDK's own media calls) ---------------------------

JPEG = b"\xff\xd8\xff\xe0" + bytes(300)
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(300)


@pytest.fixture(scope="module")
def media() -> Iterator[FakeMediaSource]:
    with served_media(FakeMediaSource()) as source:
        yield source


def url_of(media: FakeMediaSource, data: bytes) -> str:
    return media.presigned_url(media.add(data), expires_in_seconds=300)


def test_create_photo_by_url_publishes_a_photo_post(
    base_url: str, control: httpx.Client, media: FakeMediaSource
) -> None:
    caption = text()
    photo = Page(PAGE_ID, api=sdk(base_url, mint(control))).create_photo(
        params={"url": url_of(media, JPEG), "caption": caption}
    )
    assert photo["id"]
    assert photo["post_id"].startswith(f"{PAGE_ID}_")
    stored = {p["id"]: p for p in control.get("/_sandbox/posts", params={"account": PAGE_ID}).json()}
    assert stored[photo["post_id"]]["text"] == caption


def test_unpublished_photos_attached_to_a_feed_post(
    base_url: str, control: httpx.Client, media: FakeMediaSource
) -> None:
    page = Page(PAGE_ID, api=sdk(base_url, mint(control)))
    photos = [page.create_photo(params={"url": url_of(media, JPEG), "published": False})["id"] for _ in range(2)]
    attached = [{"media_fbid": photo} for photo in photos]
    post = page.create_feed(params={"message": text(), "attached_media": attached})
    stored = {p["id"]: p for p in control.get("/_sandbox/posts", params={"account": PAGE_ID}).json()}
    assert stored[post["id"]]["attached_media"] == photos


def test_create_photo_with_a_multipart_source(base_url: str, control: httpx.Client) -> None:
    token = mint(control)
    answer = control.post(
        f"/v25.0/{PAGE_ID}/photos",
        data={"caption": text(), "access_token": token},
        files={"source": ("card.jpg", JPEG, "image/jpeg")},
    )
    assert answer.status_code == 200
    assert answer.json()["post_id"].startswith(f"{PAGE_ID}_")


def test_create_video_by_file_url(base_url: str, control: httpx.Client, media: FakeMediaSource) -> None:
    description = text()
    video = Page(PAGE_ID, api=sdk(base_url, mint(control))).create_video(
        params={"file_url": url_of(media, MP4), "description": description}
    )
    stored = [p for p in control.get("/_sandbox/posts", params={"account": PAGE_ID}).json() if p["text"] == description]
    assert [p["video_id"] for p in stored] == [video["id"]]


def test_instagram_container_status_and_media_publish(
    base_url: str, control: httpx.Client, media: FakeMediaSource
) -> None:
    api = sdk(base_url, mint(control))
    account = IGUser(IG_USER_ID, api=api)
    caption = text()
    container = account.create_media(params={"image_url": url_of(media, JPEG), "caption": caption})
    deadline = time.monotonic() + 5
    status = ""
    while status != "FINISHED" and time.monotonic() < deadline:
        status = api.call("GET", (container["id"],), params={"fields": "status_code"}).json()["status_code"]
        time.sleep(0.05)
    assert status == "FINISHED"
    limit = account.get_content_publishing_limit(fields=["quota_usage", "config"])
    assert limit[0]["config"]["quota_total"] == 100
    published = account.create_media_publish(params={"creation_id": container["id"]})
    stored = {p["id"]: p for p in control.get("/_sandbox/posts", params={"account": IG_USER_ID}).json()}
    assert stored[published["id"]]["text"] == caption
