"""Who may post or read as an author (the permissions of https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/posts-api)."""

from __future__ import annotations

from herald.sandboxes.linkedin.config import LinkedInSandboxConfig
from herald.sandboxes.linkedin.gateway import Caller
from herald.sandboxes.linkedin.state import PERSON_PREFIX, account_key, member_role

POSTING_ROLES = frozenset({"ADMINISTRATOR", "DIRECT_SPONSORED_CONTENT_POSTER", "CONTENT_ADMIN"})


def may_post(caller: Caller, author: str, config: LinkedInSandboxConfig) -> bool:
    """A member posts as themself with ``w_member_social``; as a Page with a posting role and
    ``w_organization_social``."""
    if author.startswith(PERSON_PREFIX):
        return account_key(author) == caller.member and "w_member_social" in caller.scopes
    role = member_role(config, author, caller.member)
    return role in POSTING_ROLES and "w_organization_social" in caller.scopes


def may_read(caller: Caller, author: str, config: LinkedInSandboxConfig) -> bool:
    """Member posts need the closed ``r_member_social``; Page posts ``r_organization_social`` and any role."""
    if author.startswith(PERSON_PREFIX):
        return account_key(author) == caller.member and "r_member_social" in caller.scopes
    role = member_role(config, author, caller.member)
    return role is not None and "r_organization_social" in caller.scopes
