"""The platform sandboxes configured for load: ``python -m bench.sandbox x|linkedin|meta --port N [--pages N]``.

The same sandbox apps as ``python -m herald.sandboxes``, with the configuration a benchmark needs and the command
line cannot give:

* X: ``enforce_rate_limits=False``: X's per-user 100 posts / 15 min (and the app's 10,000 / 24 h) are counted and
  reported in the headers but never refused, so a burst measures Herald rather than X's quota.
* Meta: the consenting user manages ``--pages`` Pages, so one connect yields that many accounts.
* LinkedIn: its defaults already have no daily post limit; each benchmark account is a separate member.

Duplicate detection stays on everywhere (the benchmark gives every post its own text), so a post published twice
would still be refused and show up as a failure.
"""

from __future__ import annotations

import argparse

from fastapi import FastAPI

from herald.sandboxes.linkedin import app as linkedin_app
from herald.sandboxes.linkedin.config import LinkedInSandboxConfig
from herald.sandboxes.meta import app as meta_app
from herald.sandboxes.meta.config import DEFAULT_USER, MetaSandboxConfig, SandboxPage, SandboxUser
from herald.sandboxes.serving import serve
from herald.sandboxes.x import app as x_app
from herald.sandboxes.x.config import XSandboxConfig

FIRST_PAGE_ID = 100_000_000_000_001


def meta_pages(count: int) -> list[SandboxPage]:
    return [SandboxPage(id=str(FIRST_PAGE_ID + i), name=f"Herald Bench Page {i + 1}") for i in range(count)]


def create_app(platform: str, pages: int) -> FastAPI:
    if platform == "x":
        return x_app.create_app(XSandboxConfig(enforce_rate_limits=False))
    if platform == "linkedin":
        return linkedin_app.create_app(LinkedInSandboxConfig(daily_post_limit=None))
    if platform == "meta":
        user = SandboxUser(id=DEFAULT_USER.id, name=DEFAULT_USER.name, pages=meta_pages(pages))
        return meta_app.create_app(MetaSandboxConfig(users=[user]))
    raise ValueError(f"unknown platform {platform!r}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox", description=__doc__)
    parser.add_argument("platform", choices=["x", "linkedin", "meta"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fd", type=int, help="serve on this inherited listening socket instead of binding --port")
    parser.add_argument("--pages", type=int, default=10, help="Meta: Pages the consenting user manages.")
    args = parser.parse_args()
    serve(create_app(args.platform, args.pages), "127.0.0.1", args.port, args.fd)


if __name__ == "__main__":
    main()
