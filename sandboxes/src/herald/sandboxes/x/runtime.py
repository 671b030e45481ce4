"""The X sandbox's state and the checks every X endpoint shares: bearer auth, rate limits, faults."""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from herald.sandboxes.control import SandboxState
from herald.sandboxes.faults import Fault, FaultKind, Operation, apply_latency
from herald.sandboxes.ledger import StoredPost
from herald.sandboxes.oauth import TokenAuthority, TokenRejected
from herald.sandboxes.x import problems
from herald.sandboxes.x.accounts import AccountDirectory, XUser
from herald.sandboxes.x.config import XSandboxConfig
from herald.sandboxes.x.ratelimits import Quota, RateLimiter
from herald.sandboxes.x.uploads import UploadBook

FIFTEEN_MINUTES = 900


class XReject(Exception):
    """Abort a request with this X answer (turned into the response by the app's exception handler)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass
class XSandbox:
    """Everything the X sandbox remembers, on top of the shared :class:`SandboxState`."""

    config: XSandboxConfig
    state: SandboxState
    users: AccountDirectory
    limiter: RateLimiter
    # (account, text) -> post: O(1) duplicate detection however many posts the ledger holds.
    recent_texts: dict[tuple[str, str], StoredPost] = field(default_factory=dict)
    uploads: UploadBook = field(default_factory=UploadBook)

    @classmethod
    def create(cls, config: XSandboxConfig) -> XSandbox:
        refresh_ttl = config.refresh_token_ttl_days
        tokens = TokenAuthority(
            prefix="x",
            access_ttl=dt.timedelta(seconds=config.access_token_ttl_seconds),
            refresh_ttl=dt.timedelta(days=refresh_ttl) if refresh_ttl is not None else None,
            issue_refresh=True,
            rotate_refresh=True,  # X: every refresh returns a new refresh token; the old one dies at once
            clients=dict(config.clients),
        )
        return cls(
            config=config,
            state=SandboxState(tokens=tokens),
            users=AccountDirectory(config.accounts),
            limiter=RateLimiter(config.rate_limits, enforce=config.enforce_rate_limits),
        )

    def reset(self) -> None:
        """Forget posts, media, faults, counters, rate-limit windows (``POST /_sandbox/reset``); tokens stay valid."""
        self.state.reset()
        self.limiter.clear()
        self.recent_texts.clear()
        self.uploads.clear()

    # -- auth -------------------------------------------------------------------------------------------------

    def authenticate(self, request: Request, scopes: tuple[str, ...]) -> XUser:
        """The user behind the request's OAuth 2.0 user token, or an X 401/403 answer.

        A token minted with no scopes (``POST /_sandbox/tokens`` without ``scopes``) may do everything.
        """
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise XReject(problems.problem(problems.UNAUTHORIZED, 401))
        if token in self.config.app_bearer_tokens:
            raise XReject(problems.problem(problems.UNSUPPORTED_AUTHENTICATION, 403))
        try:
            grant = self.state.tokens.check(token)
        except TokenRejected:
            # Expired, revoked and unknown tokens get the same answer on X.
            raise XReject(problems.problem(problems.UNAUTHORIZED, 401)) from None
        if grant.scopes and not set(scopes) <= set(grant.scopes):
            raise XReject(problems.problem(problems.NOT_PERMITTED, 403))
        return self.users.user(grant.account)

    # -- rate limits ------------------------------------------------------------------------------------------

    def take_quota(self, bucket: str, key: str, *, window: Quota | None = None) -> Quota:
        """Count the request in its window; a spent window is X's 429 with the reset headers.

        ``window`` is the 15-minute quota already taken when ``bucket`` is a 24-hour app budget: its 429 then
        carries both, the daily one as ``x-app-limit-24hour-*``.
        """
        quota = self.limiter.take(bucket, key, time.time())
        if quota.exceeded:
            headers = self.headers(window, quota) if window is not None else self.headers(quota)
            raise XReject(problems.problem(problems.TOO_MANY_REQUESTS, 429, headers))
        return quota

    def headers(self, quota: Quota, *extra: Quota) -> dict[str, str]:
        headers = {"api-version": self.config.api_version_header, **quota.headers()}
        for daily in extra:
            headers |= daily.headers("x-app-limit-24hour")
        return headers

    # -- faults -----------------------------------------------------------------------------------------------

    async def take_fault(self, operation: Operation, account: str | None, bucket: str) -> Fault | None:
        """Apply the armed fault for this call: sleep for latency, answer errors and rate limits now.

        Returns an ``accept_then_fail`` fault for the route to apply after it has stored the post.
        """
        fault = self.state.faults.take(operation, account)
        if fault is None:
            return None
        await apply_latency(fault)
        if fault.kind is FaultKind.ERROR:
            raise XReject(self.error_fault(fault, problems.API_FAULTS, bucket))
        if fault.kind is FaultKind.RATE_LIMIT:
            raise XReject(self.rate_limit_fault(fault, bucket))
        return fault if fault.kind is FaultKind.ACCEPT_THEN_FAIL else None

    def error_fault(self, fault: Fault, table: dict[str, tuple[int, dict[str, object]]], bucket: str) -> Response:
        entry = table.get(fault.error or "")
        if entry is None:
            return problems.unknown_fault(fault.error)
        status, body = entry
        headers = {}
        if status == 429:
            reset = int(time.time()) + FIFTEEN_MINUTES
            headers = self.headers(self._spent(bucket, reset))
        return problems.problem(body, status, headers)

    def rate_limit_fault(self, fault: Fault, bucket: str) -> Response:
        """X's 429 with ``x-rate-limit-reset`` at the fault's ``until`` (15 minutes from now if unset)."""
        until = fault.until or dt.datetime.now(dt.UTC) + dt.timedelta(seconds=FIFTEEN_MINUTES)
        return problems.problem(problems.TOO_MANY_REQUESTS, 429, self.headers(self._spent(bucket, until.timestamp())))

    def _spent(self, bucket: str, reset: float) -> Quota:
        rule = self.limiter.rules[bucket]
        return Quota(limit=rule.limit, remaining=0, reset=math.ceil(reset), exceeded=True)  # never before `until`

    # -- posts ------------------------------------------------------------------------------------------------

    def duplicate_of(self, account: str, text: str) -> StoredPost | None:
        post = self.recent_texts.get((account, text))
        if post is None or self.state.posts.get(post.id) is not post:
            return None  # never posted, deleted, or forgotten by /_sandbox/reset
        window = dt.timedelta(seconds=self.config.duplicate_window_seconds)
        return post if post.created_at >= dt.datetime.now(dt.UTC) - window else None

    def max_length(self, account: str) -> int:
        if account in self.config.long_post_accounts:
            return self.config.long_post_max_weighted_length
        return self.config.max_weighted_length
