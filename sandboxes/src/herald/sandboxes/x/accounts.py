"""Sandbox accounts as X users: a numeric user id and an @username for every account name."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from herald.sandboxes.x.config import XAccountProfile

_NOT_USERNAME = re.compile(r"[^A-Za-z0-9_]")


@dataclass(frozen=True)
class XUser:
    account: str  # the sandbox account name (control API, ledger)
    id: str
    username: str
    name: str

    def public(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "username": self.username}


def derived_user_id(account: str) -> str:
    """An all-digit account name is its own id; any other name gets a stable 18-digit id."""
    if account.isdigit() and len(account) <= 19:
        return account
    number = int.from_bytes(hashlib.sha256(account.encode()).digest()[:8], "big")
    return str(10**17 + number % (9 * 10**17))


class AccountDirectory:
    """Maps account names to X users and back. Users are registered when configured or first seen."""

    def __init__(self, profiles: Mapping[str, XAccountProfile]) -> None:
        self._by_account: dict[str, XUser] = {}
        self._by_id: dict[str, XUser] = {}
        for account, profile in profiles.items():
            self._register(_user(account, profile))

    def user(self, account: str) -> XUser:
        known = self._by_account.get(account)
        return known if known is not None else self._register(_user(account, XAccountProfile()))

    def by_id(self, user_id: str) -> XUser | None:
        return self._by_id.get(user_id)

    def _register(self, user: XUser) -> XUser:
        self._by_account[user.account] = user
        self._by_id[user.id] = user
        return user


def _user(account: str, profile: XAccountProfile) -> XUser:
    return XUser(
        account=account,
        id=profile.user_id or derived_user_id(account),
        username=profile.username or (_NOT_USERNAME.sub("_", account)[:15] or "sandbox_user"),
        name=profile.name or account,
    )
