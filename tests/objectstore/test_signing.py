"""The SigV4 signer against AWS's published examples, independently of any server.

Vectors: the AWS Signature Version 4 test suite (``get-vanilla``, ``get-vanilla-query-order-key-case``; credentials
``AKIDEXAMPLE``, service ``service``, 2015-08-30T12:36:00Z) and the Amazon S3 API reference's worked examples
(GET Object with a Range header, and the presigned GET of ``examplebucket/test.txt``; credentials
``AKIAIOSFODNN7EXAMPLE``, 2013-05-24T00:00:00Z).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from urllib.parse import parse_qsl, urlsplit

import pytest

from herald.objectstore import ObjectStore, ObjectStoreSettings, signing

pytestmark = pytest.mark.fast

SUITE = signing.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
SUITE_HEADERS = {"Host": "example.amazonaws.com", "X-Amz-Date": "20150830T123600Z"}
S3_EXAMPLE = signing.Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
S3_EXAMPLE_TIME = dt.datetime(2013, 5, 24, tzinfo=dt.UTC)


def test_get_vanilla_canonical_request_and_signature() -> None:
    request, signed = signing.canonical_request("GET", "/", [], SUITE_HEADERS, signing.EMPTY_SHA256)
    assert request == (
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert signed == "host;x-amz-date"
    assert hashlib.sha256(request.encode()).hexdigest() == (
        "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
    )
    header = signing.authorization_header(
        SUITE,
        method="GET",
        path="/",
        query=[],
        headers=SUITE_HEADERS,
        payload_hash=signing.EMPTY_SHA256,
        region="us-east-1",
        service="service",
    )
    assert header == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )


def test_get_vanilla_query_order_key_case_sorts_the_query() -> None:
    header = signing.authorization_header(
        SUITE,
        method="GET",
        path="/",
        query=[("Param2", "value2"), ("Param1", "value1")],
        headers=SUITE_HEADERS,
        payload_hash=signing.EMPTY_SHA256,
        region="us-east-1",
        service="service",
    )
    assert header.endswith("Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")


def test_s3_get_object_example_with_range_header() -> None:
    headers = {
        "host": "examplebucket.s3.amazonaws.com",
        "range": "bytes=0-9",
        "x-amz-content-sha256": signing.EMPTY_SHA256,
        "x-amz-date": "20130524T000000Z",
    }
    header = signing.authorization_header(
        S3_EXAMPLE,
        method="GET",
        path="/test.txt",
        query=[],
        headers=headers,
        payload_hash=signing.EMPTY_SHA256,
        region="us-east-1",
    )
    assert header == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


def test_s3_presigned_get_example() -> None:
    query = signing.presigned_query(
        S3_EXAMPLE,
        method="GET",
        host="examplebucket.s3.amazonaws.com",
        path="/test.txt",
        region="us-east-1",
        now=S3_EXAMPLE_TIME,
        expires_in_seconds=86400,
    )
    assert query == (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3"
        "%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )


def test_store_presigns_the_published_example_on_a_virtual_host_endpoint() -> None:
    """The store's own presign path (endpoint parsing, key encoding, clock) reproduces AWS's URL."""
    settings = ObjectStoreSettings(
        # The bucket is in the host here; the store addresses <endpoint>/<bucket>/<key>, so the path carries none.
        endpoint_url="https://examplebucket.s3.amazonaws.com",
        bucket="unused",
        access_key_id=S3_EXAMPLE.access_key_id,
        secret_access_key=S3_EXAMPLE.secret_access_key,
    )
    store = ObjectStore(settings, clock=lambda: S3_EXAMPLE_TIME)

    def virtual_host_path(key: str | None, *, base: str | None = None) -> str:
        return f"/{key}"  # the vector's virtual-host form: the bucket is in the host

    store._path = virtual_host_path  # type: ignore[method-assign]
    url = store.presign_get("test.txt", 86400)
    assert url.startswith("https://examplebucket.s3.amazonaws.com/test.txt?")
    assert dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"] == (
        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )


def test_presigned_urls_name_the_public_endpoint_and_encode_the_key() -> None:
    settings = ObjectStoreSettings(
        endpoint_url="http://seaweedfs:8333",
        public_endpoint_url="https://media.example.com:443/s3",
        access_key_id="AKID",
        secret_access_key="the-secret",
    )
    url = ObjectStore(settings).presign_get("teams/t 1/media/ü", 60)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("https", "media.example.com")  # default port left out, as clients do
    assert parts.path == "/s3/herald-media/teams/t%201/media/%C3%BC"
    assert "the-secret" not in url


@pytest.mark.parametrize("seconds", [0, -1, 7 * 24 * 3600 + 1])
def test_presign_refuses_expiries_outside_sigv4_limits(seconds: int) -> None:
    settings = ObjectStoreSettings(endpoint_url="http://s3:8333", access_key_id="a", secret_access_key="b")
    with pytest.raises(ValueError, match="expires_in_seconds"):
        ObjectStore(settings).presign_get("k", seconds)


def test_signing_key_never_shows_in_repr() -> None:
    assert "wJalrXUtn" not in repr(S3_EXAMPLE)
    settings = ObjectStoreSettings(endpoint_url="http://s3:8333", access_key_id="a", secret_access_key="s3cr3t-value")
    assert "s3cr3t-value" not in repr(settings)
