"""Who a token belongs to: OpenID ``/v2/userinfo``, ``/rest/organizationAcls`` and ``/rest/organizations/{id}``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from herald.sandboxes.faults import Operation
from herald.sandboxes.linkedin import answers, fault_answers
from herald.sandboxes.linkedin.config import LinkedInSandboxConfig
from herald.sandboxes.linkedin.gateway import Caller, Gateway, resource_version
from herald.sandboxes.linkedin.state import ORGANIZATION_PREFIX, LinkedInState, person_urn


class Members:
    def __init__(self, state: LinkedInState, config: LinkedInSandboxConfig, gateway: Gateway) -> None:
        self.state = state
        self.config = config
        self.gateway = gateway

    def router(self) -> APIRouter:
        router = APIRouter(tags=["members"])
        router.add_api_route("/v2/userinfo", self.userinfo, methods=["GET"])
        router.add_api_route("/rest/organizationAcls", self.organization_acls, methods=["GET"])
        router.add_api_route("/rest/organizations/{organization_id}", self.organization, methods=["GET"])
        return router

    async def userinfo(self, request: Request) -> Response:
        """OpenID Connect userinfo (needs ``openid`` + ``profile``); ``sub`` is the member id."""
        caller = await self._caller(request, versioned=False)
        if isinstance(caller, Response):
            return caller
        if not {"openid", "profile"} <= caller.scopes:
            return answers.access_denied("userinfo.GET.NO_VERSION")
        return JSONResponse(self._userinfo(caller))

    async def organization_acls(self, request: Request) -> Response:
        """``?q=roleAssignee[&role=][&state=APPROVED]``: the Pages the member holds a role on."""
        caller = await self._caller(request, versioned=True)
        if isinstance(caller, Response):
            return caller
        if "rw_organization_admin" not in caller.scopes:
            return answers.access_denied(f"organizationAcls.FINDER-roleAssignee.{resource_version(caller)}")
        if request.query_params.get("q") != "roleAssignee":
            return answers.illegal_argument("Finder requires q=roleAssignee")
        wanted_role = request.query_params.get("role")
        elements = [
            {
                "roleAssignee": person_urn(caller.member),
                "state": "APPROVED",
                "role": role,
                "organization": f"{ORGANIZATION_PREFIX}{org_id}",
            }
            for org_id, organization in self.config.organizations.items()
            if (role := organization.roles.get(caller.member)) and wanted_role in (None, role)
        ]
        paging = {"start": 0, "count": len(elements), "links": [], "total": len(elements)}
        return JSONResponse({"paging": paging, "elements": elements})

    async def organization(self, organization_id: str, request: Request) -> Response:
        caller = await self._caller(request, versioned=True)
        if isinstance(caller, Response):
            return caller
        organization = self.config.organizations.get(organization_id)
        if organization is None or not organization_id.isdigit():
            return answers.not_found(f"Organization {organization_id} does not exist")
        vanity = organization.name.lower().replace(" ", "-")
        return JSONResponse({"id": int(organization_id), "localizedName": organization.name, "vanityName": vanity})

    async def _caller(self, request: Request, *, versioned: bool) -> Caller | Response:
        caller = self.gateway.versioned(request) if versioned else self.gateway.unversioned(request)
        if isinstance(caller, Response):
            return caller
        fault = self.state.faults.take(Operation.READ, caller.member)
        context = fault_answers.FaultContext(self.state, caller.member, caller.version, self.config.send_retry_after)
        early = await fault_answers.before(fault, fault_answers.API_ERRORS, context)
        return early if early is not None else caller

    def _userinfo(self, caller: Caller) -> dict[str, Any]:
        name = self.config.member_names.get(caller.member, f"Member {caller.member}")
        given, _, family = name.partition(" ")
        info: dict[str, Any] = {
            "sub": caller.member,
            "name": name,
            "given_name": given,
            "family_name": family,
            "picture": f"https://media.licdn.com/sandbox/{caller.member}.jpg",
            "locale": {"country": "US", "language": "en"},
        }
        if "email" in caller.scopes:
            info |= {"email": f"{caller.member}@sandbox.example", "email_verified": True}
        return info
