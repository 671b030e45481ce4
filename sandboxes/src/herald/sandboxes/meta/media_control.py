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


def media_control_router(sandbox: MetaSandbox) -> APIRouter:
    router = APIRouter(prefix="/_sandbox/meta", tags=["sandbox control"])

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
            }
            for c in sandbox.containers.values()
        ]

    return router
