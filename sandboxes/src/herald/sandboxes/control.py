"""The control and inspection API every sandbox mounts under ``/_sandbox`` (a developer tool, not a platform API).

* ``POST /_sandbox/faults`` arms a :class:`~herald.sandboxes.faults.Fault`; ``GET`` lists, ``DELETE`` clears.
* ``POST /_sandbox/tokens`` mints a token pair for an account without the consent dance (tests, benchmarks).
* ``POST /_sandbox/accounts/{account}/revoke`` and ``/expire`` revoke or expire an account's tokens.
* ``GET /_sandbox/posts?account=`` lists what was published; ``GET /_sandbox/stats`` counts calls.
* ``POST /_sandbox/reset`` forgets everything.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from herald.sandboxes.faults import Fault, FaultBook
from herald.sandboxes.ledger import PostLedger
from herald.sandboxes.oauth import TokenAuthority


@dataclass
class SandboxState:
    """Everything one sandbox process remembers."""

    tokens: TokenAuthority
    posts: PostLedger = field(default_factory=PostLedger)
    faults: FaultBook = field(default_factory=FaultBook)
    create_requests: Counter[str] = field(default_factory=Counter)

    def reset(self) -> None:
        self.posts.clear()
        self.faults.clear()
        self.create_requests.clear()
        self.tokens.token_requests.clear()


class MintRequest(BaseModel):
    account: str
    scopes: list[str] = Field(default_factory=list)
    expires_in: int | None = Field(default=None, description="Access-token lifetime in seconds (default: platform's).")


def control_router(state: SandboxState) -> APIRouter:
    router = APIRouter(prefix="/_sandbox", tags=["sandbox control"])

    @router.post("/faults", status_code=201)
    def arm(fault: Fault) -> Fault:
        state.faults.arm(fault)
        return fault

    @router.get("/faults")
    def list_faults() -> list[Fault]:
        return state.faults.armed()

    @router.delete("/faults", status_code=204)
    def clear_faults() -> None:
        state.faults.clear()

    @router.post("/tokens", status_code=201)
    def mint(body: MintRequest) -> dict[str, Any]:
        ttl = dt.timedelta(seconds=body.expires_in) if body.expires_in is not None else None
        grant = state.tokens.mint(body.account, tuple(body.scopes), access_ttl=ttl)
        return {
            "access_token": grant.access_token,
            "refresh_token": grant.refresh_token,
            "expires_at": grant.expires_at.isoformat() if grant.expires_at else None,
            "scopes": list(grant.scopes),
        }

    @router.post("/accounts/{account}/revoke")
    def revoke(account: str) -> dict[str, int]:
        return {"revoked": state.tokens.revoke_account(account)}

    @router.post("/accounts/{account}/expire")
    def expire(account: str) -> dict[str, int]:
        return {"expired": state.tokens.expire_account(account)}

    @router.get("/posts")
    def posts(account: str | None = None) -> list[dict[str, Any]]:
        found = state.posts.by_account(account) if account else state.posts.all()
        return [p.public() for p in found]

    @router.get("/stats")
    def stats() -> dict[str, dict[str, int]]:
        return {
            "token_requests": dict(state.tokens.token_requests),
            "create_requests": dict(state.create_requests),
            "posts": dict(Counter(p.account for p in state.posts.all())),
        }

    @router.post("/reset", status_code=204)
    def reset() -> None:
        state.reset()

    return router
