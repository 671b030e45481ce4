"""How armed faults (``herald.sandboxes.faults``) sound on LinkedIn. Error names are listed in ``app``'s docstring."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.responses import Response

from herald.sandboxes.faults import Fault, FaultKind, apply_latency
from herald.sandboxes.linkedin import answers
from herald.sandboxes.linkedin.state import FIRST_SHARE_ID, LinkedInState
from herald.sandboxes.oauth import TokenProblem
from herald.sandboxes.responses import accept_then_fail


@dataclass(frozen=True)
class FaultContext:
    """What an error answer may need to mention: the account's newest post, the version, the 429 style."""

    state: LinkedInState
    account: str | None
    version: str
    retry_after: bool

    def newest_post(self) -> str:
        posts = self.state.posts.by_account(self.account) if self.account else []
        return posts[0].id if posts else f"urn:li:share:{FIRST_SHARE_ID}"


Answer = Callable[[FaultContext], Response]

API_ERRORS: dict[str, Answer] = {
    "server_error": lambda _: answers.server_error(),
    "service_unavailable": lambda _: answers.service_unavailable(),
    "gateway_timeout": lambda _: answers.gateway_timeout(),
    "rate_limited": lambda ctx: answers.too_many_requests(answers.next_utc_midnight(), retry_after=ctx.retry_after),
    "duplicate": lambda ctx: answers.duplicate(ctx.newest_post()),
    "expired_token": lambda _: answers.token_problem(TokenProblem.EXPIRED),
    "invalid_token": lambda _: answers.token_problem(TokenProblem.INVALID),
    "revoked_token": lambda _: answers.token_problem(TokenProblem.REVOKED),
    "missing_token": lambda _: answers.empty_token(),
    "access_denied": lambda ctx: answers.access_denied(f"partnerApiPostsExternal.CREATE.{ctx.version[:6]}01"),
    "bad_request": lambda _: answers.unreadable_body(),
    "validation_error": lambda _: answers.schema_errors(
        ["ERROR :: /commentary :: field is required but not found and has no default value"]
    ),
    "version_missing": lambda _: answers.version_missing(),
    "nonexistent_version": lambda ctx: answers.nonexistent_version(ctx.version),
}

TOKEN_ERRORS: dict[str, Answer] = {
    "server_error": lambda _: answers.oauth_error(500, "server_error", "An unexpected error occurred"),
    "service_unavailable": lambda _: answers.oauth_error(503, "temporarily_unavailable", "Service Unavailable"),
    "rate_limited": lambda ctx: answers.too_many_requests(answers.next_utc_midnight(), retry_after=ctx.retry_after),
    "invalid_request": lambda _: answers.oauth_error(400, "invalid_request", answers.DEAD_GRANT),
    "invalid_grant": lambda _: answers.oauth_error(400, "invalid_grant", answers.DEAD_GRANT),
    "expired_token": lambda _: answers.oauth_error(400, "invalid_request", answers.DEAD_GRANT),
    "revoked_token": lambda _: answers.oauth_error(400, "invalid_request", answers.DEAD_GRANT),
    "invalid_client": lambda _: answers.oauth_error(401, "invalid_client", "Client authentication failed"),
    "bad_request": lambda _: answers.missing_parameter("client_secret"),
}


async def before(fault: Fault | None, table: dict[str, Answer], context: FaultContext) -> Response | None:
    """The answer a fault gives instead of serving the call, or ``None`` to serve it (after any latency)."""
    if fault is None:
        return None
    await apply_latency(fault)
    if fault.kind is FaultKind.ERROR:
        return _error(fault.error, table, context)
    if fault.kind is FaultKind.RATE_LIMIT:
        until = fault.until or answers.next_utc_midnight()
        return answers.too_many_requests(until, retry_after=context.retry_after)
    return None


async def after(fault: Fault | None, served: Response) -> Response:
    """For ``accept_then_fail``: the call was served (the post stored), but the client gets a failure."""
    if fault is not None and fault.kind is FaultKind.ACCEPT_THEN_FAIL:
        return await accept_then_fail(fault, answers.service_unavailable())
    return served


def _error(name: str | None, table: dict[str, Answer], context: FaultContext) -> Response:
    answer = table.get(name or "")
    if answer is None:
        known = ", ".join(sorted(table))
        return answers.service_error(500, f"sandbox: unknown fault error {name!r} here; known: {known}")
    return answer(context)
