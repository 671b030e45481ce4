"""AWS Signature Version 4, as S3 uses it: the ``Authorization`` header and query-string (presigned) signing.

Pure functions of their inputs (the clock is passed in), so they are checked against AWS's published examples
independently of any server. S3 specifics: the canonical URI is the path encoded once (not twice, as other AWS
services do), and the payload hash is sent in ``x-amz-content-sha256``. References:

* https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html (the Authorization header)
* https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html (presigned URLs, at most 7 days)
* https://docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html (the test suite ``tests/objectstore``
  checks this module against, with the S3 pages' worked examples)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
"""SigV4 presigned URLs are valid for at most seven days."""


@dataclass(frozen=True)
class Credentials:
    """An access key pair. The secret never appears in ``repr`` (so not in a log line or a traceback either)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)


def amz_date(moment: dt.datetime) -> str:
    """``YYYYMMDDTHHMMSSZ`` in UTC, the form ``x-amz-date`` and ``X-Amz-Date`` take."""
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def uri_encode(value: str, *, keep_slash: bool = False) -> str:
    """Percent-encode every byte but the unreserved characters (``A-Za-z0-9-._~``), as SigV4 requires."""
    return quote(value, safe="/" if keep_slash else "")


def canonical_uri(path: str) -> str:
    """The request path as S3 canonicalizes it: each segment encoded once, slashes kept."""
    return uri_encode(path or "/", keep_slash=True)


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    """Parameters encoded, then sorted by name and value (a parameter without value is ``name=``)."""
    encoded = sorted((uri_encode(name), uri_encode(value)) for name, value in params)
    return "&".join(f"{name}={value}" for name, value in encoded)


def _canonical_headers(headers: Mapping[str, str]) -> tuple[str, str]:
    lowered = sorted((name.lower().strip(), " ".join(value.split())) for name, value in headers.items())
    return "".join(f"{name}:{value}\n" for name, value in lowered), ";".join(name for name, _ in lowered)


def canonical_request(
    method: str, path: str, query: Iterable[tuple[str, str]], headers: Mapping[str, str], payload_hash: str
) -> tuple[str, str]:
    """The canonical request and its signed-headers list; every header in ``headers`` is signed."""
    header_block, signed_headers = _canonical_headers(headers)
    request = "\n".join(
        [method.upper(), canonical_uri(path), canonical_query(query), header_block, signed_headers, payload_hash]
    )
    return request, signed_headers


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signing_key(secret_access_key: str, date: str, region: str, service: str) -> bytes:
    """The key derived for one day, region and service (``date`` is ``YYYYMMDD``)."""
    key = _hmac(f"AWS4{secret_access_key}".encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def credential_scope(date: str, region: str, service: str) -> str:
    return f"{date}/{region}/{service}/aws4_request"


def string_to_sign(timestamp: str, scope: str, request: str) -> str:
    return "\n".join([ALGORITHM, timestamp, scope, hashlib.sha256(request.encode()).hexdigest()])


def signature(credentials: Credentials, timestamp: str, region: str, service: str, request: str) -> str:
    """The hex signature of ``request`` (a canonical request) made at ``timestamp`` (``amz_date`` form)."""
    date = timestamp[:8]
    key = signing_key(credentials.secret_access_key, date, region, service)
    to_sign = string_to_sign(timestamp, credential_scope(date, region, service), request)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def authorization_header(
    credentials: Credentials,
    *,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    payload_hash: str,
    region: str,
    service: str = "s3",
) -> str:
    """The ``Authorization`` header value for a request whose signed ``headers`` include ``host`` and ``x-amz-date``."""
    timestamp = next(value for name, value in headers.items() if name.lower() == "x-amz-date")
    request, signed_headers = canonical_request(method, path, query, headers, payload_hash)
    scope = credential_scope(timestamp[:8], region, service)
    return (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, SignedHeaders={signed_headers}, "
        f"Signature={signature(credentials, timestamp, region, service, request)}"
    )


def presigned_query(
    credentials: Credentials,
    *,
    method: str,
    host: str,
    path: str,
    region: str,
    now: dt.datetime,
    expires_in_seconds: int,
    service: str = "s3",
) -> str:
    """The query string (already encoded) that authorizes ``method`` on ``path`` at ``host`` for a while.

    Only ``host`` is signed and the payload is ``UNSIGNED-PAYLOAD``, so any HTTP client can use the URL as is.
    """
    if not 1 <= expires_in_seconds <= MAX_PRESIGN_SECONDS:
        raise ValueError(f"expires_in_seconds must be between 1 and {MAX_PRESIGN_SECONDS}")
    timestamp = amz_date(now)
    params = [
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", f"{credentials.access_key_id}/{credential_scope(timestamp[:8], region, service)}"),
        ("X-Amz-Date", timestamp),
        ("X-Amz-Expires", str(expires_in_seconds)),
        ("X-Amz-SignedHeaders", "host"),
    ]
    request, _ = canonical_request(method, path, params, {"host": host}, UNSIGNED_PAYLOAD)
    # The signature goes last, as in AWS's own presigned URLs (the order of a query does not matter to S3).
    return f"{canonical_query(params)}&X-Amz-Signature={signature(credentials, timestamp, region, service, request)}"
