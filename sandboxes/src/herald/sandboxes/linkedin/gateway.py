"""What LinkedIn checks before any resource sees a request: version, protocol, and the bearer token."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from herald.sandboxes.linkedin import answers
from herald.sandboxes.linkedin.config import LinkedInSandboxConfig
from herald.sandboxes.linkedin.state import LinkedInState, granted_scopes
from herald.sandboxes.linkedin.versions import VersionPolicy
from herald.sandboxes.oauth import Grant, TokenRejected


@dataclass(frozen=True)
class Caller:
    """An authenticated member: their ``sub``, token scopes, and the ``LinkedIn-Version`` they asked for."""

    member: str
    scopes: frozenset[str]
    version: str


@dataclass(frozen=True)
class Gateway:
    state: LinkedInState
    config: LinkedInSandboxConfig
    versions: VersionPolicy

    def versioned(self, request: Request) -> Caller | Response:
        """For ``/rest/*``: version first (as LinkedIn's gateway does), then protocol, then the token."""
        refused = self.versions.check(request.headers)
        if refused is not None:
            return refused
        protocol = request.headers.get("x-restli-protocol-version")
        if self.config.require_restli_protocol and protocol != "2.0.0":
            # LinkedIn requires the header
            # (https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/posts-api); the exact
            # refusal is not documented.
            return answers.illegal_argument("X-Restli-Protocol-Version: 2.0.0 is required for this resource")
        return self._authenticated(request, request.headers["linkedin-version"].strip())

    def unversioned(self, request: Request) -> Caller | Response:
        """For ``/v2/*`` (``userinfo``): only the token."""
        return self._authenticated(request, "NO_VERSION")

    def _authenticated(self, request: Request, version: str) -> Caller | Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return answers.empty_token()
        try:
            grant: Grant = self.state.tokens.check(token.strip())
        except TokenRejected as rejected:
            return answers.token_problem(rejected.problem)
        return Caller(member=grant.account, scopes=granted_scopes(grant, self.config), version=version)


def resource_version(caller: Caller) -> str:
    """How LinkedIn spells the version in permission messages: ``20260701`` or ``NO_VERSION``."""
    return caller.version if caller.version == "NO_VERSION" else f"{caller.version[:6]}01"
