"""``ObjectStore``: the S3 calls Herald needs, on httpx, signed with SigV4 (path-style addressing).

XML answers are parsed with ElementTree: they come from Herald's own object store (configured by the operator),
not from untrusted input. Payloads are hashed (``x-amz-content-sha256`` carries the SHA-256 of the body), so the
store verifies every byte it is sent; the bodies are in memory anyway (a small object, or one multipart part).
"""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import httpx

from herald.objectstore import signing
from herald.objectstore.errors import ObjectNotFound, ObjectStoreError
from herald.objectstore.settings import ObjectStoreSettings

_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
MIN_PART_BYTES = 5 * 1024 * 1024
"""S3's smallest part, except the last one of an upload."""
MAX_PARTS = 10_000
US_EAST_1 = "us-east-1"
"""The one region where creating a bucket takes no location constraint."""


@dataclass(frozen=True)
class ObjectInfo:
    """What the store says about one object."""

    key: str
    size: int
    etag: str
    last_modified: dt.datetime | None = None
    content_type: str | None = None
    """Known from HEAD; listings do not carry it."""


@dataclass(frozen=True)
class MultipartUpload:
    """A multipart upload that was created and neither completed nor aborted."""

    key: str
    upload_id: str
    initiated: dt.datetime | None


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _host(url: str) -> tuple[str, str]:
    """``(scheme://netloc, Host header value)`` without a default port (clients leave it out of ``Host``)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    netloc = host if parts.port in {None, default} else f"{host}:{parts.port}"
    return f"{parts.scheme}://{netloc}", netloc


def _base_path(url: str) -> str:
    return urlsplit(url).path.rstrip("/")


def _find(element: ET.Element, name: str) -> str | None:
    found = element.find(_NS + name)
    if found is None:
        found = element.find(name)
    return None if found is None else (found.text or "")


def _findall(element: ET.Element, name: str) -> builtins.list[ET.Element]:
    return element.findall(_NS + name) or element.findall(name)


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            return dt.datetime.strptime(value, "%a, %d %b %Y %H:%M:%S %Z").replace(tzinfo=dt.UTC)
        except ValueError:
            return None


def _xml(body: bytes, operation: str) -> ET.Element:
    try:
        return ET.fromstring(body)  # noqa: S314 - see the import
    except ET.ParseError:
        raise ObjectStoreError(f"{operation}: the object store answered with malformed XML") from None


class ObjectStore:
    """An S3 bucket (``settings.bucket``) reached over HTTP; use as ``async with ObjectStore(settings) as store``.

    Errors are :class:`ObjectStoreError` (:class:`ObjectNotFound` for a missing object or upload); their messages
    name the operation and the key, never a credential or a signature.
    """

    def __init__(
        self,
        settings: ObjectStoreSettings,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.settings = settings
        self._credentials = signing.Credentials(settings.access_key_id, settings.secret_access_key)
        self._origin, self._host_header = _host(settings.endpoint_url)
        self._base = _base_path(settings.endpoint_url)
        self._public_origin, self._public_host = _host(settings.presign_endpoint_url)
        self._public_base = _base_path(settings.presign_endpoint_url)
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=settings.timeout_seconds)
        self._clock = clock

    @property
    def bucket(self) -> str:
        return self.settings.bucket

    async def aclose(self) -> None:
        """Close the HTTP client (only if this store created it)."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- requests ---------------------------------------------------------------------------------------------

    def _path(self, key: str | None, *, base: str | None = None) -> str:
        path = f"{self._base if base is None else base}/{self.bucket}"
        return path if key is None else f"{path}/{key}"

    def _request(
        self,
        method: str,
        key: str | None,
        *,
        query: builtins.list[tuple[str, str]] | None = None,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> httpx.Request:
        path = self._path(key)
        query = query or []
        payload_hash = hashlib.sha256(body).hexdigest() if body else signing.EMPTY_SHA256
        signed = {
            "host": self._host_header,
            "x-amz-date": signing.amz_date(self._clock()),
            "x-amz-content-sha256": payload_hash,
            **{name.lower(): value for name, value in (headers or {}).items()},
        }
        authorization = signing.authorization_header(
            self._credentials,
            method=method,
            path=path,
            query=query,
            headers=signed,
            payload_hash=payload_hash,
            region=self.settings.region,
        )
        url = self._origin + signing.canonical_uri(path)
        if query:
            url += "?" + signing.canonical_query(query)
        return self._client.build_request(
            method, httpx.URL(url), content=body, headers={**signed, "authorization": authorization}
        )

    @staticmethod
    def _failure(operation: str, key: str | None, response: httpx.Response) -> ObjectStoreError:
        code: str | None = None
        detail = ""
        if response.content:
            try:
                root = ET.fromstring(response.content)  # noqa: S314 - see the import
                code = _find(root, "Code")
                detail = _find(root, "Message") or ""
            except ET.ParseError:
                pass
        target = f" {key}" if key is not None else ""
        message = f"{operation}{target}: object store answered {response.status_code}"
        if code:
            message += f" {code}"
        if detail:
            message += f" ({detail[:200]})"
        missing = response.status_code == 404 or code in {"NoSuchKey", "NoSuchUpload", "NoSuchBucket"}
        cls = ObjectNotFound if missing else ObjectStoreError
        return cls(message, status_code=response.status_code, code=code)

    async def _send(
        self, operation: str, key: str | None, request: httpx.Request, *, ok: tuple[int, ...] = (200,)
    ) -> httpx.Response:
        try:
            response = await self._client.send(request)
        except httpx.HTTPError as exc:
            # The exception's text may carry the URL; for header-signed requests it holds no secret, but only the
            # operation and the kind of failure are needed, so nothing else is passed on.
            target = f" {key}" if key is not None else ""
            raise ObjectStoreError(f"{operation}{target}: object store unreachable ({type(exc).__name__})") from None
        if response.status_code not in ok:
            raise self._failure(operation, key, response)
        return response

    # -- bucket -----------------------------------------------------------------------------------------------

    async def bucket_exists(self) -> bool:
        """Whether the bucket exists; raises :class:`ObjectStoreError` when the store refuses or cannot be reached
        (so it doubles as a readiness check: it needs the store up and the credentials accepted)."""
        response = await self._send("head bucket", None, self._request("HEAD", None), ok=(200, 404))
        return response.status_code == 200

    async def ensure_bucket(self) -> None:
        """Create the bucket unless it exists (idempotent; safe when several processes start at once)."""
        if await self.bucket_exists():
            return
        body = b""
        if self.settings.region != US_EAST_1:
            body = (
                '<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                f"<LocationConstraint>{self.settings.region}</LocationConstraint></CreateBucketConfiguration>"
            ).encode()
        request = self._request("PUT", None, body=body)
        response = await self._send("create bucket", None, request, ok=(200, 409))
        if response.status_code == 409 and b"BucketAlreadyOwnedByYou" not in response.content:
            raise self._failure("create bucket", None, response)

    async def delete_bucket(self) -> None:
        """Delete the (empty) bucket; a bucket that does not exist is not an error. For tests and teardown."""
        await self._send("delete bucket", None, self._request("DELETE", None), ok=(200, 204, 404))

    # -- objects ----------------------------------------------------------------------------------------------

    async def put(self, key: str, data: bytes, content_type: str) -> str:
        """Store ``data`` under ``key`` in one request (replacing any object there); returns the ETag."""
        request = self._request("PUT", key, body=data, headers={"content-type": content_type})
        response = await self._send("put", key, request)
        return str(response.headers.get("etag", "")).strip('"')

    async def head(self, key: str) -> ObjectInfo | None:
        """The object's size, ETag, type and modification time; None when there is no such object."""
        response = await self._send("head", key, self._request("HEAD", key), ok=(200, 404))
        if response.status_code == 404:
            return None
        return ObjectInfo(
            key=key,
            size=int(response.headers.get("content-length", "0")),
            etag=response.headers.get("etag", "").strip('"'),
            last_modified=_parse_time(response.headers.get("last-modified")),
            content_type=response.headers.get("content-type"),
        )

    async def stream(self, key: str, chunk_bytes: int) -> AsyncIterator[bytes]:
        """The object's bytes in chunks of exactly ``chunk_bytes`` (the last may be shorter), read as they arrive.

        Raises :class:`ObjectNotFound` (before yielding anything) when there is no such object.
        """
        if chunk_bytes < 1:
            raise ValueError("chunk_bytes must be positive")
        request = self._request("GET", key)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise ObjectStoreError(f"get {key}: object store unreachable ({type(exc).__name__})") from None
        try:
            if response.status_code != 200:
                await response.aread()
                raise self._failure("get", key, response)
            pending = bytearray()
            try:
                async for piece in response.aiter_bytes():
                    pending += piece
                    while len(pending) >= chunk_bytes:
                        yield bytes(pending[:chunk_bytes])
                        del pending[:chunk_bytes]
            except httpx.HTTPError as exc:
                raise ObjectStoreError(f"get {key}: transfer broke off ({type(exc).__name__})") from None
            if pending:
                yield bytes(pending)
        finally:
            await response.aclose()

    async def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` of the object, both included (HTTP range semantics)."""
        if start < 0 or end < start:
            raise ValueError("need 0 <= start <= end")
        request = self._request("GET", key, headers={"range": f"bytes={start}-{end}"})
        response = await self._send("get range", key, request, ok=(200, 206))
        if response.status_code == 200:  # the store ignored the range: cut it here
            return response.content[start : end + 1]
        return response.content

    async def delete(self, key: str) -> None:
        """Delete the object; deleting one that does not exist is not an error (S3 semantics)."""
        await self._send("delete", key, self._request("DELETE", key), ok=(200, 204, 404))

    async def list(self, prefix: str, *, page_size: int = 1000) -> AsyncIterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, in key order, fetched ``page_size`` at a time."""
        token: str | None = None
        while True:
            query = [("list-type", "2"), ("prefix", prefix), ("max-keys", str(page_size))]
            if token:
                query.append(("continuation-token", token))
            response = await self._send("list", prefix, self._request("GET", None, query=query))
            root = _xml(response.content, "list")
            for item in _findall(root, "Contents"):
                yield ObjectInfo(
                    key=_find(item, "Key") or "",
                    size=int(_find(item, "Size") or 0),
                    etag=(_find(item, "ETag") or "").strip('"'),
                    last_modified=_parse_time(_find(item, "LastModified")),
                )
            token = _find(root, "NextContinuationToken")
            if (_find(root, "IsTruncated") or "").lower() != "true" or not token:
                return

    # -- multipart uploads -----------------------------------------------------------------------------------

    async def create_multipart(self, key: str, content_type: str) -> str:
        """Start a multipart upload to ``key``; returns its upload id."""
        request = self._request("POST", key, query=[("uploads", "")], headers={"content-type": content_type})
        response = await self._send("create multipart", key, request)
        upload_id = _find(_xml(response.content, "create multipart"), "UploadId")
        if not upload_id:
            raise ObjectStoreError(f"create multipart {key}: the answer has no UploadId")
        return upload_id

    async def upload_part(self, key: str, upload_id: str, part_number: int, data: bytes) -> str:
        """Upload part ``part_number`` (1..10000; all but the last at least 5 MiB); returns its ETag."""
        if not 1 <= part_number <= MAX_PARTS:
            raise ValueError(f"part_number must be between 1 and {MAX_PARTS}")
        query = [("partNumber", str(part_number)), ("uploadId", upload_id)]
        response = await self._send("upload part", key, self._request("PUT", key, query=query, body=data))
        etag = str(response.headers.get("etag", "")).strip('"')
        if not etag:
            raise ObjectStoreError(f"upload part {key}: the answer has no ETag")
        return etag

    async def complete_multipart(self, key: str, upload_id: str, parts: builtins.list[tuple[int, str]]) -> str:
        """Assemble the object from ``(part_number, etag)`` pairs (in any order); returns the object's ETag."""
        if not parts:
            raise ValueError("a multipart upload needs at least one part")
        root = ET.Element("CompleteMultipartUpload", xmlns="http://s3.amazonaws.com/doc/2006-03-01/")
        for number, etag in sorted(parts):
            part = ET.SubElement(root, "Part")
            ET.SubElement(part, "PartNumber").text = str(number)
            ET.SubElement(part, "ETag").text = f'"{etag}"'
        body = ET.tostring(root, encoding="utf-8", xml_declaration=False)
        request = self._request(
            "POST", key, query=[("uploadId", upload_id)], body=body, headers={"content-type": "application/xml"}
        )
        response = await self._send("complete multipart", key, request)
        # S3 may answer 200 with an error document when assembling fails after the answer started.
        result = _xml(response.content, "complete multipart")
        if result.tag.endswith("Error"):
            code = _find(result, "Code")
            raise ObjectStoreError(f"complete multipart {key}: object store answered {code}", code=code)
        return (_find(result, "ETag") or "").strip('"')

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Abandon a multipart upload and its parts; one that no longer exists is not an error."""
        request = self._request("DELETE", key, query=[("uploadId", upload_id)])
        await self._send("abort multipart", key, request, ok=(200, 204, 404))

    async def list_multipart_uploads(self, prefix: str) -> builtins.list[MultipartUpload]:
        """The multipart uploads in progress whose key starts with ``prefix`` (every page)."""
        uploads: builtins.list[MultipartUpload] = []
        key_marker = upload_marker = ""
        while True:
            query = [("uploads", ""), ("prefix", prefix)]
            if key_marker:
                query += [("key-marker", key_marker), ("upload-id-marker", upload_marker)]
            response = await self._send("list multipart", prefix, self._request("GET", None, query=query))
            root = _xml(response.content, "list multipart")
            for item in _findall(root, "Upload"):
                uploads.append(
                    MultipartUpload(
                        key=_find(item, "Key") or "",
                        upload_id=_find(item, "UploadId") or "",
                        initiated=_parse_time(_find(item, "Initiated")),
                    )
                )
            key_marker = _find(root, "NextKeyMarker") or ""
            upload_marker = _find(root, "NextUploadIdMarker") or ""
            if (_find(root, "IsTruncated") or "").lower() != "true" or not key_marker:
                return uploads

    # -- presigned URLs ---------------------------------------------------------------------------------------

    def presign_get(self, key: str, expires_in_seconds: int) -> str:
        """A GET URL for ``key`` on the public endpoint, valid ``expires_in_seconds`` (1 s to 7 days)."""
        path = self._path(key, base=self._public_base)
        query = signing.presigned_query(
            self._credentials,
            method="GET",
            host=self._public_host,
            path=path,
            region=self.settings.region,
            now=self._clock(),
            expires_in_seconds=expires_in_seconds,
        )
        return f"{self._public_origin}{signing.canonical_uri(path)}?{query}"
