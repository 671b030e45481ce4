"""What a user does, over Herald's public APIs only: ``make demo`` (with ``make run`` going in another terminal).

1. create a team API key (scheduler admin endpoint, bootstrap secret);
2. connect one account per platform through the OAuth flow against the sandboxes (tokens service);
3. create and approve content, schedule it on all three platforms a few seconds ahead (scheduler);
4. follow each distribution to its outcome and print its journey and its audit timeline (audit service);
5. media: upload three JPEGs (made here) to the media service, then publish an image post on X, LinkedIn and the
   Facebook Page, and a carousel of the three on the Instagram account linked to that Page (connected by the same
   Meta OAuth flow); print each platform's post id.

With ``--inject-failure`` (the default) the X sandbox is told, through its developer control API, to fail the next
create with a 503-class error, so X's timeline shows a retry before the post goes out.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from herald.operator.local_starter import NotReady, wait_until_ready

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for bench.jpeg
from bench.jpeg import jpeg  # real JPEGs made in code, shared with the benchmark

SCHEDULER = "http://127.0.0.1:8001"
TOKENS = "http://127.0.0.1:8002"
AUDIT = "http://127.0.0.1:8003"
MEDIA = "http://127.0.0.1:8004"
SANDBOX_X = "http://127.0.0.1:9101"
BOOTSTRAP_SECRET = "dev-bootstrap-secret"  # the development default; refused outside development
PLATFORMS = ("x", "linkedin", "meta")
TERMINAL = {"published", "failed", "unconfirmed", "cancelled", "missed"}


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def wait_for_make_run(timeout: float = 90) -> None:
    """``make run`` may still be starting: wait for every service's /readyz."""
    probes = {
        name: f"{url}/readyz"
        for name, url in (
            ("scheduler", SCHEDULER),
            ("tokens", TOKENS),
            ("audit", AUDIT),
            ("media", MEDIA),
        )
    }
    try:
        asyncio.run(wait_until_ready(probes, within=timeout))
    except NotReady as error:
        raise SystemExit(f"{error}: is `make run` going in another terminal?") from None


def create_key(client: httpx.Client) -> str:
    response = client.post(
        f"{SCHEDULER}/v1/admin/api-keys",
        headers={"X-Herald-Bootstrap-Secret": BOOTSTRAP_SECRET},
        json={"name": "demo"},
    )
    response.raise_for_status()
    body = response.json()
    print(f"team {body['team_id']}, key id {body['key_id']} (the key itself is shown once and kept by the caller)")
    return str(body["api_key"])


def connect(client: httpx.Client, platform: str) -> list[dict[str, Any]]:
    """Every account one consent connects (Meta: each Page, and the Instagram account linked to a Page)."""
    start = client.post(f"{TOKENS}/v1/accounts/connect/{platform}", json={})
    start.raise_for_status()
    # The sandbox's consent page approves at once and redirects to the tokens service's callback.
    callback = httpx.get(start.json()["authorization_url"], follow_redirects=True, timeout=30)
    callback.raise_for_status()
    accounts: list[dict[str, Any]] = callback.json()["accounts"]
    for account in accounts:
        surface = f" [{account['surface']}]" if account.get("surface", "default") != "default" else ""
        print(f"{platform:<9} connected {account['account_name']!r} ({account['platform_account_id']}){surface}")
    return accounts


def on_surface(accounts: list[dict[str, Any]], surface: str) -> dict[str, Any]:
    """The first account of a Meta connect on ``surface`` (``facebook_page`` or ``instagram``)."""
    for account in accounts:
        if account.get("surface", "facebook_page") == surface:
            return account
    raise SystemExit(f"the Meta connect gave no {surface} account")


def upload(client: httpx.Client, data: bytes, filename: str) -> str:
    """``POST /v1/media`` (multipart, field ``file``): the type, size and dimensions come from the bytes."""
    response = client.post(f"{MEDIA}/v1/media", files={"file": (filename, data, "image/jpeg")})
    response.raise_for_status()
    item = response.json()
    print(
        f"uploaded {filename}: {item['id']} {item['content_type']} {item['width']}x{item['height']}"
        f" {item['size_bytes']:,} bytes"
    )
    return str(item["id"])


def content_with_media(client: httpx.Client, title: str, text: str, media: list[tuple[str, str]]) -> str:
    body = {"title": title, "text": text, "media": [{"media_id": m, "alt_text": alt} for m, alt in media]}
    response = client.post(f"{SCHEDULER}/v1/contents", json=body)
    response.raise_for_status()
    content_id = str(response.json()["content_id"])
    client.post(f"{SCHEDULER}/v1/contents/{content_id}/approve").raise_for_status()
    return content_id


def media_journey(client: httpx.Client, accounts: dict[str, list[dict[str, Any]]], lead_seconds: float) -> bool:
    """Image posts on X, LinkedIn and the Facebook Page, a carousel on Instagram; True if all were published."""
    run = uuid.uuid4().hex[:8]
    shades = (40, 128, 215)  # three distinct images (the media service keeps identical bytes once per team)
    ids = [
        upload(client, jpeg(1080, 1080, size_bytes=150_000, shade=v, seed=i), f"demo-{i + 1}.jpg")
        for i, v in enumerate(shades)
    ]
    image = content_with_media(
        client, "Herald demo: an image", f"An image post from Herald's demo run {run}.", [(ids[0], "A dark square")]
    )
    carousel = content_with_media(
        client,
        "Herald demo: a carousel",
        f"A carousel from Herald's demo run {run}.",
        [(ids[0], "A dark square"), (ids[1], "A grey square"), (ids[2], "A light square")],
    )
    meta = accounts["meta"]
    targets = {
        "x (image)": (image, "x", accounts["x"][0]),
        "linkedin (image)": (image, "linkedin", accounts["linkedin"][0]),
        "facebook page (image)": (image, "meta", on_surface(meta, "facebook_page")),
        "instagram (carousel)": (carousel, "meta", on_surface(meta, "instagram")),
    }
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=lead_seconds)
    distributions = {
        name: schedule(client, content_id, platform, str(account["id"]), at)
        for name, (content_id, platform, account) in targets.items()
    }
    print(f"scheduled {', '.join(distributions)} for {at.isoformat()}")
    final = wait_for_outcomes(client, distributions, timeout=lead_seconds + 120)
    for name in distributions:
        found = final.get(name)
        status = found["status"] if found else "no outcome yet"
        print(f"  {name:<22} {status:<10} post id {found.get('external_post_id') if found else None}")
    return len(final) == len(distributions) and all(d["status"] == "published" for d in final.values())


def schedule(client: httpx.Client, content_id: str, platform: str, account_id: str, at: dt.datetime) -> str:
    body = {
        "content_id": content_id,
        "platform": platform,
        "account_id": account_id,
        "publish_at": at.isoformat(),
        "retry": {"max_attempts": 5, "base_delay_seconds": 1},
    }
    for _ in range(50):  # the scheduler learns about new accounts from events: give it a moment
        response = client.post(f"{SCHEDULER}/v1/distributions", json=body)
        if response.status_code != 422 or "account" not in response.text:
            break
        time.sleep(0.2)
    response.raise_for_status()
    return str(response.json()["distribution_id"])


def wait_for_outcomes(client: httpx.Client, distributions: dict[str, str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    final: dict[str, Any] = {}
    while time.monotonic() < deadline and len(final) < len(distributions):
        for platform, distribution_id in distributions.items():
            found = client.get(f"{SCHEDULER}/v1/distributions/{distribution_id}").json()
            if found["status"] in TERMINAL:
                final[platform] = found
        time.sleep(0.5)
    return final


def print_journey(client: httpx.Client, platform: str, distribution: dict[str, Any]) -> None:
    print(f"\n{platform}: {distribution['status']}  post id {distribution.get('external_post_id')}")
    print(f"  scheduled for {distribution['scheduled_at']}, requested at {distribution.get('requested_at')}")
    for attempt in distribution.get("attempts", []):
        extra = f" next at {attempt['next_attempt_at']}" if attempt.get("next_attempt_at") else ""
        print(f"  attempt {attempt['attempt']}: {attempt['outcome']}{extra}")
    timeline = client.get(f"{AUDIT}/v1/audit/distributions/{distribution['distribution_id']}/timeline")
    timeline.raise_for_status()
    print("  audit timeline:")
    for entry in timeline.json()["items"]:
        print(f"    {entry['occurred_at']}  {entry['action']:<28} by {entry['actor']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-failure", action="store_true", help="do not inject the transient X failure")
    parser.add_argument("--lead-seconds", type=float, default=5.0, help="schedule this far ahead")
    args = parser.parse_args()

    wait_for_make_run()
    with httpx.Client(timeout=30) as anonymous:
        step("1. A team API key")
        key = create_key(anonymous)
    with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {key}"}) as client:
        step("2. Connect one account per platform (OAuth against the sandboxes)")
        connected = {platform: connect(client, platform) for platform in PLATFORMS}
        accounts = {platform: found[0] for platform, found in connected.items()}

        step("3. Create, approve and schedule content")
        content = client.post(
            f"{SCHEDULER}/v1/contents",
            json={
                "title": "Herald demo",
                "text": f"Hello from Herald's demo run {uuid.uuid4().hex[:8]} (scheduled, retried, audited).",
                "link": "https://example.com/herald",
            },
        )
        content.raise_for_status()
        content_id = content.json()["content_id"]
        client.post(f"{SCHEDULER}/v1/contents/{content_id}/approve").raise_for_status()
        at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=args.lead_seconds)
        distributions = {
            platform: schedule(client, content_id, platform, str(account["id"]), at)
            for platform, account in accounts.items()
        }
        print(f"scheduled on {', '.join(distributions)} for {at.isoformat()}")
        if not args.no_failure:
            httpx.post(
                f"{SANDBOX_X}/_sandbox/faults", json={"kind": "error", "error": "service_unavailable", "count": 1}
            ).raise_for_status()
            print("injected: the X sandbox will answer the next create with a 503 (a transient failure)")

        step("4. Journeys")
        final = wait_for_outcomes(client, distributions, timeout=args.lead_seconds + 60)
        time.sleep(1.0)  # let the audit service record the last outcome
        for platform in distributions:
            if platform not in final:
                print(f"\n{platform}: no outcome yet (is every service running?)")
                continue
            print_journey(client, platform, final[platform])

        step("5. Media: image posts on X, LinkedIn and a Facebook Page, a carousel on Instagram")
        media_published = media_journey(client, connected, args.lead_seconds)
    return 0 if len(final) == len(distributions) and media_published else 1


if __name__ == "__main__":
    sys.exit(main())
