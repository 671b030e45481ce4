"""A stand-in for Herald's own token service (ours, so faking it is fair): it mints sandbox tokens on demand.

It answers the token service's internal API (``/internal/v1/accounts/{id}/access-token`` and ``/refresh``)
for accounts registered with :meth:`FakeTokenService.register`, and counts refreshes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import httpx
from fastapi import FastAPI, HTTPException


@dataclass
class FakeTokenService:
    sandbox_url: str
    accounts: dict[uuid.UUID, tuple[str, str]] = field(default_factory=dict)  # id -> (sandbox account, platform id)
    tokens: dict[uuid.UUID, str] = field(default_factory=dict)
    refreshes: int = 0
    reauth: set[uuid.UUID] = field(default_factory=set)
    refresh_rejected: set[uuid.UUID] = field(default_factory=set)  # the platform refuses these refresh tokens

    def register(self, account_id: uuid.UUID, sandbox_account: str, platform_account_id: str) -> None:
        self.accounts[account_id] = (sandbox_account, platform_account_id)

    async def _mint(self, account_id: uuid.UUID) -> str:
        sandbox_account, _ = self.accounts[account_id]
        async with httpx.AsyncClient(base_url=self.sandbox_url) as client:
            response = await client.post("/_sandbox/tokens", json={"account": sandbox_account})
            response.raise_for_status()
        token: str = response.json()["access_token"]
        self.tokens[account_id] = token
        return token

    def app(self) -> FastAPI:
        app = FastAPI()

        async def body(account_id: uuid.UUID, token: str) -> dict[str, str | None]:
            return {
                "account_id": str(account_id),
                "platform_account_id": self.accounts[account_id][1],
                "access_token": token,
                "expires_at": None,
            }

        def check(account_id: uuid.UUID) -> None:
            if account_id not in self.accounts:
                raise HTTPException(404)
            if account_id in self.reauth:
                raise HTTPException(409, detail={"error": "reauth_required"})

        @app.get("/internal/v1/accounts/{account_id}/access-token")
        async def access_token(account_id: uuid.UUID) -> dict[str, str | None]:
            check(account_id)
            token = self.tokens.get(account_id) or await self._mint(account_id)
            return await body(account_id, token)

        @app.post("/internal/v1/accounts/{account_id}/reauth-required", status_code=204)
        async def reauth_required(account_id: uuid.UUID) -> None:
            check(account_id)
            self.reauth.add(account_id)

        @app.post("/internal/v1/accounts/{account_id}/refresh")
        async def refresh(account_id: uuid.UUID) -> dict[str, str | None]:
            check(account_id)
            self.refreshes += 1
            if account_id in self.refresh_rejected:  # as the real service: flag once, then 409
                self.reauth.add(account_id)
                raise HTTPException(409, detail={"error": "reauth_required"})
            return await body(account_id, await self._mint(account_id))

        return app
