"""Media for the chaos scenarios: real files made in code, the media service's team API, what the object store holds,
and the platform sandboxes' media control routes.

The files are built byte by byte (no imaging library): a baseline JPEG whose frame header (SOF0) carries its size,
padded with comment segments to the size a scenario wants, and an ISO BMFF movie (``ftyp``, ``mdat``, ``moov`` with
``mvhd`` and a video track's ``tkhd``). They are what the media service's detection reads (magic numbers, SOFn,
``mvhd``/``tkhd``) and what the sandboxes check (magic numbers, ``ftyp``). Every file carries a random salt, so two
files are never the same bytes (the media service deduplicates by SHA-256 within a team).
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from typing import Any

import httpx

from herald.contracts.platform import Platform
from herald.objectstore import ObjectStore, ObjectStoreSettings, objectstore_settings_from_env
from tests.chaos.infra import fetch
from tests.chaos.stack import Stack

KIB = 1024
MIB = 1024 * KIB
COMMENT_MAX = 65_533  # a JPEG segment's payload: its 16-bit length counts itself


def jpeg(width: int = 1080, height: int = 1080, size: int = 64 * KIB) -> bytes:
    """A JPEG of ``width`` x ``height`` (as its frame header says) of about ``size`` bytes (at least ~100)."""
    head = b"\xff\xd8" + _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    head += _segment(0xFE, os.urandom(16))  # the salt
    frame = _segment(0xC0, struct.pack(">BHHB", 8, height, width, 3) + bytes.fromhex("011100021101031101"))
    scan = _segment(0xDA, bytes.fromhex("03010002110311003f00")) + os.urandom(32).replace(b"\xff", b"\x00")
    tail = b"\xff\xd9"
    padding = b""
    left = size - len(head) - len(frame) - len(scan) - len(tail)
    while left > 4:
        payload = min(left - 4, COMMENT_MAX)
        padding += _segment(0xFE, os.urandom(payload))
        left -= payload + 4
    return head + padding + frame + scan + tail


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def mp4(width: int = 1280, height: int = 720, duration_ms: int = 5_000, size: int = 256 * KIB) -> bytes:
    """An MP4 of ``duration_ms`` and ``width`` x ``height`` (its ``moov`` says so) of about ``size`` bytes."""
    ftyp = _box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41")
    mvhd = _box(
        b"mvhd",
        b"\x00\x00\x00\x00"
        + struct.pack(">IIII", 0, 0, 1000, duration_ms)
        + struct.pack(">IH", 0x00010000, 0x0100)
        + b"\x00" * 70
        + struct.pack(">I", 2),
    )
    tkhd = _box(
        b"tkhd",
        b"\x00\x00\x00\x03"
        + struct.pack(">IIIII", 0, 0, 1, 0, duration_ms)
        + b"\x00" * 52
        + struct.pack(">II", width << 16, height << 16),
    )
    hdlr = _box(b"hdlr", b"\x00" * 8 + b"vide" + b"\x00" * 13)
    moov = _box(b"moov", mvhd + _box(b"trak", tkhd + _box(b"mdia", hdlr)))
    mdat = _box(b"mdat", os.urandom(max(size - len(ftyp) - len(moov) - 8, 16)))
    return ftyp + mdat + moov


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the media service --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Uploaded:
    """A media item the media service accepted, and the bytes it was given."""

    media_id: str
    sha256: str
    size: int
    kind: str


class MediaApi:
    """The media service's team API, with the team's authorized client."""

    def __init__(self, stack: Stack, client: httpx.AsyncClient) -> None:
        self.stack = stack
        self.client = client

    @property
    def url(self) -> str:
        return self.stack.url("media")

    async def upload(self, data: bytes, filename: str = "chaos.bin") -> Uploaded:
        """``POST /v1/media`` (multipart, field ``file``): 201 new, 200 the team's twin."""
        response = await self.client.post(f"{self.url}/v1/media", files={"file": (filename, data)}, timeout=60)
        if response.status_code not in (200, 201):
            raise AssertionError(f"media upload: {response.status_code} {response.text[:500]}")
        return _uploaded(response.json(), data)

    async def put_chunk(self, upload_id: str, data: bytes, first: int, last: int) -> httpx.Response:
        """``PUT /v1/uploads/{id}`` with bytes ``first..last`` of ``data``."""
        headers = {"Content-Range": f"bytes {first}-{last}/{len(data)}", "Content-Type": "application/octet-stream"}
        return await self.client.put(
            f"{self.url}/v1/uploads/{upload_id}", content=data[first : last + 1], headers=headers, timeout=60
        )

    async def item(self, media_id: str) -> dict[str, Any]:
        response = await self.client.get(f"{self.url}/v1/media/{media_id}")
        if response.status_code != 200:
            raise AssertionError(f"media item {media_id}: {response.status_code} {response.text[:300]}")
        found: dict[str, Any] = response.json()
        return found


def _uploaded(body: dict[str, Any], data: bytes) -> Uploaded:
    assert body["sha256"] == sha256(data), f"the media service recorded {body['sha256']}, not {sha256(data)}"
    assert body["size_bytes"] == len(data), body
    return Uploaded(str(body["id"]), body["sha256"], len(data), str(body["kind"]))


# -- the object store ---------------------------------------------------------------------------------------------


def objectstore_settings(stack: Stack) -> ObjectStoreSettings:
    """How the services of this stack reach its object store (every service is given the same environment)."""
    return objectstore_settings_from_env(stack.children["scheduler"].entry.env)


async def stored_media(stack: Stack) -> dict[str, str]:
    """Every media object in the store: media id -> SHA-256 of the bytes the store gives back now."""
    found: dict[str, str] = {}
    async with ObjectStore(objectstore_settings(stack)) as store:
        keys = [info.key async for info in store.list("teams/")]
        for key in keys:
            parts = key.split("/")
            if len(parts) == 4 and parts[2] == "media":
                digest = hashlib.sha256()
                async for chunk in store.stream(key, chunk_bytes=1 * MIB):
                    digest.update(chunk)
                found[parts[3]] = digest.hexdigest()
    return found


# -- the sandboxes' media routes ----------------------------------------------------------------------------------


class MediaSandboxes:
    """The media control routes of the three sandboxes (each platform's own, see each sandbox's docstring)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.client = httpx.AsyncClient(timeout=30)

    async def close(self) -> None:
        await self.client.aclose()

    async def _get(self, platform: Platform, path: str) -> Any:
        response = await self.client.get(f"{self.stack.sandbox(platform)}{path}")
        response.raise_for_status()
        return response.json()

    async def x_uploads(self) -> list[dict[str, Any]]:
        """X: every media id issued (``account``, ``segments``, ``received_bytes``, ``state``, ``sha256`` ...)."""
        uploads: list[dict[str, Any]] = await self._get(Platform.X, "/_sandbox/media")
        return uploads

    async def linkedin(self) -> dict[str, Any]:
        """LinkedIn: ``{"assets": [{"id", "owner", "status", "parts", "parts_received", ...}], "requests": {...}}``."""
        found: dict[str, Any] = await self._get(Platform.LINKEDIN, "/_sandbox/linkedin/media")
        return found

    async def meta_requests(self) -> dict[str, int]:
        """Meta: media calls by ``{account}/{edge}`` (photos, videos, media, media_publish); never reset."""
        found: dict[str, int] = await self._get(Platform.META, "/_sandbox/meta/media-requests")
        return found

    async def meta_containers(self) -> list[dict[str, Any]]:
        """Meta: every Instagram container (``id``, ``ig_user_id``, ``media_type``, ``status_code``, ``children``)."""
        found: list[dict[str, Any]] = await self._get(Platform.META, "/_sandbox/meta/containers")
        return found

    async def meta_settings(self, **settings: Any) -> dict[str, Any]:
        """Switch the running Meta sandbox's media behaviour (``container_delay_ms``, ``publishing_limit`` ...)."""
        response = await self.client.patch(f"{self.stack.sandbox(Platform.META)}/_sandbox/meta/settings", json=settings)
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found


# -- the publishers' ledgers --------------------------------------------------------------------------------------


async def recorded_uploads(database_url: str, platform: Platform, distribution_ids: list[str]) -> dict[str, list[str]]:
    """What a publisher's ledger recorded of each distribution's media uploads (``publisher_<platform>.media_uploads``,
    no API shows it): distribution id -> the recorded state of each of its items."""
    rows = await fetch(
        database_url,
        f"SELECT distribution_id::text AS distribution_id, state FROM publisher_{platform.value}.media_uploads"
        " WHERE distribution_id::text = ANY($1::text[]) ORDER BY updated_at",
        distribution_ids,
    )
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(row["distribution_id"], []).append(row["state"])
    return found


async def recorded_carousel(database_url: str, distribution_id: str) -> str | None:
    """The Instagram carousel container the Meta publisher's ledger recorded for a distribution (on its first item's
    row, ``detail.carousel``), or None before it has."""
    (row,) = await fetch(
        database_url,
        "SELECT max(detail->>'carousel') AS carousel FROM publisher_meta.media_uploads"
        " WHERE distribution_id::text = $1",
        distribution_id,
    )
    found: str | None = row["carousel"]
    return found
