"""Meta-only control routes for media: force container outcomes, expire a container, count media calls."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from herald.sandboxes.meta.media_state import ContainerStatus
from herald.sandboxes.meta.state import MetaSandbox


class ContainerFault(BaseModel):
    """The next ``count`` containers created end in ``status`` (ERROR at once, or EXPIRED)."""

    status: Literal["ERROR", "EXPIRED"]
    count: int = Field(default=1, ge=1, le=100)


class MediaSettings(BaseModel):
    """Media behaviour a running sandbox can be switched to (a sandbox run as a process has the default config)."""

    container_delay_ms: int | None = Field(default=None, ge=0)
    container_ttl_seconds: float | None = Field(default=None, gt=0)
    publishing_limit: int | None = Field(default=None, ge=0)
    video_chunk_bytes: int | None = Field(default=None, ge=1)


def media_control_router(sandbox: MetaSandbox) -> APIRouter:
    router = APIRouter(prefix="/_sandbox/meta", tags=["sandbox control"])

    @router.patch("/settings")
    def settings(body: MediaSettings) -> dict[str, object]:
        update: dict[str, object] = {}
        if body.container_delay_ms is not None:
            update["container_delay"] = dt.timedelta(milliseconds=body.container_delay_ms)
        if body.container_ttl_seconds is not None:
            update["container_ttl"] = dt.timedelta(seconds=body.container_ttl_seconds)
        if body.publishing_limit is not None:
            update["publishing_limit"] = body.publishing_limit
        if body.video_chunk_bytes is not None:
            update["video_chunk_bytes"] = body.video_chunk_bytes
        sandbox.config = sandbox.config.model_copy(update=update)
        config = sandbox.config
        return {
            "container_delay_ms": int(config.container_delay.total_seconds() * 1000),
            "container_ttl_seconds": config.container_ttl.total_seconds(),
            "publishing_limit": config.publishing_limit,
            "video_chunk_bytes": config.video_chunk_bytes,
        }

    @router.post("/containers/faults", status_code=201)
    def arm(fault: ContainerFault) -> dict[str, list[str]]:
        sandbox.container_faults.extend([fault.status] * fault.count)
        return {"armed": list(sandbox.container_faults)}

    @router.delete("/containers/faults", status_code=204)
    def clear() -> None:
        sandbox.container_faults.clear()

    @router.post("/containers/{container_id}/expire")
    def expire(container_id: str) -> dict[str, str]:
        container = sandbox.containers.get(container_id)
        if container is None:
            raise HTTPException(404, f"no container {container_id}")
        container.forced = ContainerStatus.EXPIRED
        return {"id": container_id, "status_code": ContainerStatus.EXPIRED.value}

    @router.get("/media-requests")
    def media_requests() -> dict[str, int]:
        """Media calls by ``{account}/{edge}`` (photos, videos, media, media_publish)."""
        return dict(sandbox.media_requests)

    @router.get("/containers")
    def containers() -> list[dict[str, object]]:
        now = dt.datetime.now(dt.UTC)
        ttl = sandbox.config.container_ttl
        return [
            {
                "id": c.id,
                "ig_user_id": c.ig_user_id,
                "media_type": c.media_type,
                "status_code": c.status(now, ttl, [sandbox.containers[x] for x in c.children]).value,
                "children": list(c.children),
                "size": c.size,
                "sha256": c.sha256,
                "alt_text": c.alt_text,
                "url": c.url,  # the (presigned) URL Instagram was asked to fetch
            }
            for c in sandbox.containers.values()
        ]

    @router.get("/uploads")
    def uploads() -> list[dict[str, object]]:
        """Page photos and videos received: their size and SHA-256, and the post they ended up in."""
        return [
            {"id": u.id, "page_id": u.page_id, "kind": u.kind, "size": u.size, "sha256": u.sha256, "post_id": u.post_id}
            for u in sandbox.uploads.values()
        ]

    return router
