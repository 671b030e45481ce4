"""Conformance of the LinkedIn sandbox with LinkedIn's official client (``linkedin-api-client`` 0.3).

The SDK is unchanged apart from its base URLs (docs/platforms.md, "Pointing the official SDKs at a sandbox"):
``linkedin_api.common.constants`` is read at call time by the Rest.li client and the auth client; the member-auth-URL
helper imported its own copy.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from linkedin_api.clients.auth.client import AuthClient
from linkedin_api.clients.auth.utils import oauth as sdk_oauth
from linkedin_api.clients.restli.client import RestliClient
from linkedin_api.clients.restli.response import GetResponse
from linkedin_api.common import constants

from herald.sandboxes.linkedin.app import create_app
from tests.platforms.test_linkedin_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    MEMBER,
    MEMBER_URN,
    READ_BACK_SCOPES,
    VERSION,
    post_body,
)
from tests.support.servers import serve

REDIRECT_URI = "http://127.0.0.1:9999/callback"


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    with serve(create_app()) as url:
        yield url


@pytest.fixture
def sdk(sandbox_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the official client at the sandbox; start from an empty sandbox."""
    monkeypatch.setattr(constants, "VERSIONED_BASE_URL", f"{sandbox_url}/rest")
    monkeypatch.setattr(constants, "NON_VERSIONED_BASE_URL", f"{sandbox_url}/v2")
    monkeypatch.setattr(constants, "OAUTH_BASE_URL", f"{sandbox_url}/oauth/v2")
    monkeypatch.setattr(sdk_oauth, "OAUTH_BASE_URL", f"{sandbox_url}/oauth/v2")
    requests.post(f"{sandbox_url}/_sandbox/reset", timeout=5).raise_for_status()
    return sandbox_url


def token(base_url: str, scopes: tuple[str, ...] = READ_BACK_SCOPES) -> str:
    minted = requests.post(
        f"{base_url}/_sandbox/tokens", json={"account": MEMBER, "scopes": list(scopes)}, timeout=5
    ).json()
    return str(minted["access_token"])


def stored(base_url: str) -> list[dict[str, object]]:
    posts: list[dict[str, object]] = requests.get(f"{base_url}/_sandbox/posts", timeout=5).json()
    return posts


def test_create_returns_the_urn_the_sandbox_stored(sdk: str) -> None:
    response = RestliClient().create(
        resource_path="/posts",
        entity=post_body("Sample text post created with /posts API"),
        access_token=token(sdk),
        version_string=VERSION,
    )
    assert response.status_code == 201
    assert response.entity is None  # empty body
    assert response.entity_id is not None
    assert response.entity_id.startswith("urn:li:share:")
    assert [(p["id"], p["text"]) for p in stored(sdk)] == [
        (response.entity_id, "Sample text post created with /posts API")
    ]


def test_create_an_article_post(sdk: str) -> None:
    article = {"article": {"source": "https://example.com/page", "title": "Page title", "description": "optional"}}
    response = RestliClient().create(
        resource_path="/posts",
        entity=post_body("An article", content=article),
        access_token=token(sdk),
        version_string=VERSION,
    )
    assert response.status_code == 201
    assert stored(sdk)[0]["content"] == article


def test_missing_version_is_version_missing(sdk: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Without version_string the SDK sends no LinkedIn-Version header; aim its unversioned base at /rest.
    monkeypatch.setattr(constants, "NON_VERSIONED_BASE_URL", f"{sdk}/rest")
    response = RestliClient().create(resource_path="/posts", entity=post_body("No version"), access_token=token(sdk))
    assert response.status_code == 400
    assert response.entity == {
        "status": 400,
        "code": "VERSION_MISSING",
        "message": "A version must be present. Please specify a version by adding the LinkedIn-Version header.",
    }
    assert response.headers["X-Restli-Gateway-Error"] == "true"
    assert stored(sdk) == []


def test_sunset_version_is_nonexistent_version(sdk: str) -> None:
    response = RestliClient().create(
        resource_path="/posts", entity=post_body("Old version"), access_token=token(sdk), version_string="202401"
    )
    assert response.status_code == 426
    assert response.entity == {
        "status": 426,
        "code": "NONEXISTENT_VERSION",
        "message": "Requested version 20240101 is not active",
    }
    assert stored(sdk) == []


def test_revision_versions_are_accepted(sdk: str) -> None:
    response = RestliClient().create(
        resource_path="/posts", entity=post_body("Revision"), access_token=token(sdk), version_string=f"{VERSION}.01"
    )
    assert response.status_code == 201


def test_finder_and_get_read_the_post_back(sdk: str) -> None:
    client, access_token = RestliClient(), token(sdk)
    created = client.create(
        resource_path="/posts", entity=post_body("Find me"), access_token=access_token, version_string=VERSION
    )
    found = client.finder(
        resource_path="/posts",
        finder_name="author",
        query_params={"author": MEMBER_URN, "sortBy": "CREATED", "count": 10},
        access_token=access_token,
        version_string=VERSION,
    )
    assert found.status_code == 200
    assert [(e["id"], e["commentary"]) for e in found.elements] == [(created.entity_id, "Find me")]
    assert found.paging.total == 1
    got = client.get(
        resource_path="/posts/{id}",
        path_keys={"id": created.entity_id},
        access_token=access_token,
        version_string=VERSION,
    )
    assert got.status_code == 200
    assert got.entity["author"] == MEMBER_URN
    assert isinstance(got.entity["createdAt"], int)


def test_duplicate_through_the_sdk_names_the_first_post(sdk: str) -> None:
    client, access_token = RestliClient(), token(sdk)
    first = client.create(
        resource_path="/posts", entity=post_body("Twice"), access_token=access_token, version_string=VERSION
    )
    second = client.create(
        resource_path="/posts", entity=post_body("Twice"), access_token=access_token, version_string=VERSION
    )
    assert second.status_code == 422
    assert second.entity["errorDetails"]["inputErrors"][0]["code"] == "DUPLICATE_POST"
    assert second.entity["message"].endswith(f"Content is a duplicate of {first.entity_id}")


def test_auth_client_code_exchange_and_refresh(sdk: str) -> None:
    auth = AuthClient(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_url=REDIRECT_URI)
    consent_url = auth.generate_member_auth_url(scopes=["openid", "profile", "w_member_social"], state="xyz")
    assert consent_url.startswith(f"{sdk}/oauth/v2/authorization?")
    consent = requests.get(consent_url, allow_redirects=False, timeout=5)
    assert consent.status_code == 302
    query = parse_qs(urlsplit(consent.headers["location"]).query)
    assert query["state"] == ["xyz"]

    tokens = auth.exchange_auth_code_for_access_token(query["code"][0])
    assert tokens.status_code == 200
    assert tokens.access_token
    assert tokens.expires_in == 5_184_000
    assert tokens.refresh_token
    assert tokens.refresh_token_expires_in is not None
    assert 31_535_990 <= tokens.refresh_token_expires_in <= 31_536_000
    assert set(tokens.scope.split(",")) == {"openid", "profile", "w_member_social"}

    refreshed = auth.exchange_refresh_token_for_access_token(tokens.refresh_token)
    assert refreshed.status_code == 200
    assert refreshed.access_token != tokens.access_token
    assert refreshed.refresh_token == tokens.refresh_token  # not rotated
    assert refreshed.refresh_token_expires_in <= tokens.refresh_token_expires_in

    introspection = auth.introspect_access_token(refreshed.access_token)
    assert introspection.active is True
    assert introspection.status == "active"


def test_auth_client_dead_refresh_token(sdk: str) -> None:
    auth = AuthClient(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    answer = auth.exchange_refresh_token_for_access_token("li-rt-dead")
    assert answer.status_code == 400
    assert answer.response.json() == {
        "error": "invalid_request",
        "error_description": "The provided authorization grant or refresh token is invalid, expired or revoked",
    }


def test_images_initialize_upload_action_and_get_through_the_sdk(sdk: str) -> None:
    """The SDK's Rest.li ACTION call initializes an image upload; its GET reads the image back until AVAILABLE."""
    client, access_token = RestliClient(), token(sdk)
    initialized = client.action(
        resource_path="/images",
        action_name="initializeUpload",
        action_params={"initializeUploadRequest": {"owner": MEMBER_URN}},
        access_token=access_token,
        version_string=VERSION,
    )
    assert initialized.status_code == 200
    value = initialized.value
    assert set(value) == {"uploadUrlExpiresAt", "uploadUrl", "image"}
    image_urn = value["image"]

    def image() -> GetResponse:
        return client.get(
            resource_path="/images/{id}", path_keys={"id": image_urn}, access_token=access_token, version_string=VERSION
        )

    waiting = image()
    assert waiting.status_code == 200
    assert (waiting.entity["id"], waiting.entity["owner"], waiting.entity["status"]) == (
        image_urn,
        MEMBER_URN,
        "WAITING_UPLOAD",
    )
    uploaded = requests.put(
        value["uploadUrl"], data=b"\x89PNG" + b"0" * 64, headers={"Authorization": f"Bearer {access_token}"}, timeout=5
    )
    assert uploaded.status_code == 201
    deadline = time.monotonic() + 10
    while image().entity["status"] != "AVAILABLE":
        assert time.monotonic() < deadline, "the image never became AVAILABLE"
        time.sleep(0.05)

    post = client.create(
        resource_path="/posts",
        entity=post_body("With an image", content={"media": {"id": image_urn, "altText": "A test image"}}),
        access_token=access_token,
        version_string=VERSION,
    )
    assert post.status_code == 201
    assert stored(sdk)[0]["content"] == {"media": {"id": image_urn, "altText": "A test image"}}
