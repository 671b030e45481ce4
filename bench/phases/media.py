"""Media beside text: does a burst of image posts starve a burst of text posts?

Two runs on the same accounts, each released at one instant:

1. ``text alone``: ``text_posts`` text-only posts, all due at once (the reference);
2. ``together``: the same number of text posts and ``image_posts`` image posts (one JPEG of ``image_bytes`` per
   content item, uploaded through the media service first), all due at the same instant (images 2 ms earlier, so
   each batch keeps a scheduled-time window of its own for the queries).

Each batch's rate is its posts published divided by the time from its due instant to its last post on the
platform; lateness is published_at - scheduled_at. The report sets the text burst's rate and lateness beside the
images against the text burst alone: media uploads (1 MB per post to the platform, several HTTP calls each) must not
starve text posts.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

from bench.client import bounded
from bench.harness import Batch, Harness, contents_needed, lateness_json, say, utcnow
from bench.jpeg import jpeg
from bench.resources import CpuMeter, CpuWindow
from bench.stats import rate

IMAGE_SIZE = (1080, 1080)
"""Square: every platform's aspect-ratio rules accept it (Instagram takes 4:5 to 1.91:1)."""
IMAGES_EARLIER = dt.timedelta(milliseconds=2)
UPLOAD_CONCURRENCY = 4
LATENESS_KEYS = ("min", "p50", "p95", "p99", "max")
MIB = 1024 * 1024


async def run(h: Harness, image_posts: int, text_posts: int, image_bytes: int) -> dict[str, Any]:
    accounts = len(h.accounts)
    images, uploading = await upload_images(h, contents_needed(image_posts, accounts), image_bytes)
    say(f"media: {len(images)} images of {image_bytes:,} bytes uploaded ({uploading['mib_per_second']} MiB/s)")

    due = utcnow() + h.lead_time(text_posts, contents_needed(text_posts, accounts))
    alone = await h.seed("media-text-alone", [due] * text_posts)
    await h.release(alone)
    cpu = CpuMeter(h.monitor)
    await h.settle(alone, due)
    alone_cpu = cpu.read()
    text_alone = {**await figures(h, alone, due), "cpu": alone_cpu.as_json()}
    say(f"media: text alone {text_alone['published']} published at {text_alone['posts_per_second']} posts/s")

    contents = contents_needed(text_posts, accounts) + len(images)
    due = utcnow() + h.lead_time(text_posts + image_posts, contents)
    image_batch = await h.seed("media-images", [due - IMAGES_EARLIER] * image_posts, [[i] for i in images])
    text_batch = await h.seed("media-text-beside", [due] * text_posts)
    both = merged("media-together", image_batch, text_batch)
    release = await h.release(both)
    cpu = CpuMeter(h.monitor)
    settled = await h.settle(both, due - IMAGES_EARLIER)
    together_cpu = cpu.read()
    beside = await figures(h, text_batch, due)
    with_images = await figures(h, image_batch, due - IMAGES_EARLIER, image_bytes)
    say(
        f"media: together {with_images['published']} image posts at {with_images['posts_per_second']} posts/s,"
        f" {beside['published']} text posts at {beside['posts_per_second']} posts/s"
    )
    return {
        "image_posts": image_posts,
        "text_posts": text_posts,
        "image_bytes": image_bytes,
        "image_size": list(IMAGE_SIZE),
        "accounts": accounts,
        "images_uploaded": uploading,
        "text_alone": text_alone,
        "together": {
            "release": release,
            "timed_out": settled.timed_out,
            "statuses": settled.statuses,
            "cpu": together_cpu.as_json(),
            "images": with_images,
            "text": beside,
        },
        "text_beside_images": compare(text_alone, beside),
        "image_cpu_ms_per_post": image_cost(alone_cpu, together_cpu, image_posts),
    }


async def upload_images(h: Harness, count: int, image_bytes: int) -> tuple[list[str], dict[str, Any]]:
    """``count`` distinct JPEGs through the media API (what a team does before scheduling posts with media)."""
    files = [
        jpeg(*IMAGE_SIZE, size_bytes=image_bytes, shade=(37 * i) % 256, seed=hash((h.run_id, i))) for i in range(count)
    ]
    calls = [(lambda i=i, f=f: h.api.upload_media(f, f"bench-{h.run_id}-{i}.jpg")) for i, f in enumerate(files)]
    began = time.perf_counter()
    ids, seeding = await bounded(UPLOAD_CONCURRENCY, calls)
    seconds = time.perf_counter() - began
    return ids, {
        **seeding.as_json(),
        "bytes": sum(len(f) for f in files),
        "mib_per_second": round(sum(len(f) for f in files) / MIB / seconds, 1) if seconds > 0 else None,
    }


def merged(tag: str, *batches: Batch) -> Batch:
    """Several batches as one (released and settled together)."""
    first = batches[0]
    return Batch(
        tag,
        [d for b in batches for d in b.distribution_ids],
        [c for b in batches for c in b.content_ids],
        min(b.first_due for b in batches),
        max(b.last_due for b in batches),
        first.content_seeding,
        first.seeding,
        min(b.seeded_from for b in batches),
    )


async def figures(h: Harness, batch: Batch, due: dt.datetime, image_bytes: int = 0) -> dict[str, Any]:
    _, items = await h.lateness(batch)
    return batch_figures(items, due, len(batch.distribution_ids), image_bytes)


def batch_figures(items: Sequence[dict[str, Any]], due: dt.datetime, size: int, image_bytes: int = 0) -> dict[str, Any]:
    """A batch's outcome from its distributions (the scheduler API's items): how many were published, how long
    until the last was on its platform, the rate that makes, lateness, and for image posts the bytes per second
    that reached the platforms."""
    published = [d for d in items if d["status"] == "published" and d.get("published_at")]
    statuses: dict[str, int] = {}
    for d in items:
        statuses[d["status"]] = statuses.get(d["status"], 0) + 1
    at = [dt.datetime.fromisoformat(d["published_at"]) for d in published]
    late = [
        (moment - dt.datetime.fromisoformat(d["scheduled_at"])).total_seconds()
        for moment, d in zip(at, published, strict=True)
    ]
    span = (max(at) - due).total_seconds() if at else None
    result: dict[str, Any] = {
        "distributions": size,
        "published": len(published),
        "statuses": dict(sorted(statuses.items())),
        "seconds_to_last_on_platform": None if span is None else round(span, 2),
        "posts_per_second": round(rate(len(published), span), 1) if span and span > 0 else None,
        "lateness_ms": lateness_json(late),
    }
    if image_bytes:
        result["image_mib_per_second"] = (
            round(len(published) * image_bytes / MIB / span, 1) if span and span > 0 else None
        )
    return result


def compare(alone: dict[str, Any], beside: dict[str, Any]) -> dict[str, Any]:
    """The text burst beside images against the text burst alone: rate ratio (1.0 = unaffected) and the lateness
    percentiles side by side."""
    rate_alone, rate_beside = alone.get("posts_per_second"), beside.get("posts_per_second")
    ratio = round(rate_beside / rate_alone, 2) if rate_alone and rate_beside is not None else None
    late_alone, late_beside = alone.get("lateness_ms") or {}, beside.get("lateness_ms") or {}
    return {
        "rate_ratio": ratio,
        "lateness_ms": {key: [late_alone.get(key), late_beside.get(key)] for key in LATENESS_KEYS},
    }


def image_cost(alone: CpuWindow, together: CpuWindow, image_posts: int) -> dict[str, float]:
    """CPU milliseconds an image post cost each process: what the together run used beyond the text burst alone
    (the same text burst), divided by the image posts; largest first, with the total."""
    if image_posts <= 0:
        return {}
    extra = {
        name: max(together.by_process.get(name, 0.0) - alone.by_process.get(name, 0.0), 0.0)
        for name in together.by_process
    }
    ranked = {
        name: round(seconds * 1000 / image_posts, 1) for name, seconds in sorted(extra.items(), key=lambda kv: -kv[1])
    }
    return {**ranked, "total": round(sum(extra.values()) * 1000 / image_posts, 1)}
