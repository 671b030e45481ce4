"""``LinkedIn-Version`` enforcement: monthly versions, each active for about a year (https://learn.microsoft.com/en-us/linkedin/marketing/versioning)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.responses import Response

from herald.sandboxes.linkedin import answers
from herald.sandboxes.linkedin.config import LinkedInSandboxConfig

_VERSION = re.compile(r"^(\d{6})(?:\.\d{2})?$")  # YYYYMM or YYYYMM.RR (official client docstring)
ACTIVE_MONTHS = 12


@dataclass(frozen=True)
class VersionPolicy:
    oldest: str
    newest: str
    inactive: frozenset[str]

    @classmethod
    def from_config(cls, config: LinkedInSandboxConfig, today: dt.date | None = None) -> VersionPolicy:
        today = today or dt.datetime.now(dt.UTC).date()
        newest = config.newest_active_version or f"{today.year:04d}{today.month:02d}"
        oldest = config.oldest_active_version or _months_before(today, ACTIVE_MONTHS - 1)
        return cls(oldest=oldest, newest=newest, inactive=config.inactive_versions)

    def check(self, headers: Headers) -> Response | None:
        """``None`` if the request names an active version, else LinkedIn's 400 or 426."""
        version = headers.get("linkedin-version")
        if not version:
            return answers.version_missing()
        match = _VERSION.match(version.strip())
        if match is None or not self.is_active(match.group(1)):
            return answers.nonexistent_version(version.strip())
        return None

    def is_active(self, month: str) -> bool:
        return self.oldest <= month <= self.newest and month not in self.inactive


def _months_before(today: dt.date, months: int) -> str:
    index = today.year * 12 + today.month - 1 - months
    return f"{index // 12:04d}{index % 12 + 1:02d}"
