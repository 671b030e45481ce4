"""Team API keys: created and revoked by an operator (the admin API, protected by the bootstrap secret, or the
``herald.kit.admin`` command). Recorded by the audit log so that who could act for a team, and since when, is on
record; the key itself never appears, only its id and name.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from herald.contracts.base import TeamEvent

_ADMIN = ("scheduler", "operator-tooling")


class KeyChannel(StrEnum):
    """Through what the operator acted."""

    ADMIN_API = "admin_api"
    """``/v1/admin/api-keys`` on a service's public API, with the bootstrap secret."""
    ADMIN_COMMAND = "admin_command"
    """``python -m herald.kit.admin`` with database access."""


class _ApiKeyEvent(TeamEvent):
    SUBJECT_FIELD = "key_id"
    PRODUCERS = _ADMIN
    CONSUMERS = ("audit",)

    key_id: str = Field(min_length=1, max_length=64)
    """The key's public id (the ``<key id>`` in ``hk_<key id>_<secret>``); never the key."""
    name: str = Field(min_length=1, max_length=200)
    """The name the key was given when it was created."""
    channel: KeyChannel
    """Through what the operator acted."""


class ApiKeyCreated(_ApiKeyEvent):
    """A team API key was created (its secret was shown once to the operator who created it)."""

    TYPE = "com.herald.api_key.created"
    VERSION = 1


class ApiKeyRevoked(_ApiKeyEvent):
    """A team API key was revoked: every request presenting it answers 401 from now on."""

    TYPE = "com.herald.api_key.revoked"
    VERSION = 1
