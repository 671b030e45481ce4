"""The media phase's pure parts: the JPEGs it uploads, a batch's figures, the comparison, report and finding."""

from __future__ import annotations

import datetime as dt
import struct
from typing import Any

import pytest

from bench.findings import explain
from bench.jpeg import MAX_SEGMENT_PAYLOAD, jpeg
from bench.jpeg import dimensions as jpeg_dimensions
from bench.phases.media import batch_figures, compare, image_cost
from bench.report import MEDIA_TARGET, render, targets
from bench.resources import CpuWindow

DUE = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)


def _segments(data: bytes) -> list[tuple[int, int]]:
    """(marker, total length) of every segment before the scan, then the scan's and EOI's."""
    assert data[:2] == b"\xff\xd8"
    found, at = [], 2
    while True:
        marker = data[at + 1]
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        found.append((marker, length + 2))
        at += 2 + length
        if marker == 0xDA:
            return found


@pytest.mark.parametrize("size", [0, 1_000_000, 65_537 + 1, 65_537 + 3, 65_537 + 4, 2 * 65_537 + 2])
def test_a_jpeg_has_the_size_asked_for_and_its_dimensions(size: int) -> None:
    data = jpeg(1080, 1350, size_bytes=size, shade=200, seed=1)
    bare = len(jpeg(1080, 1350, shade=200))
    assert len(data) == max(size, bare)
    assert jpeg_dimensions(data) == (1080, 1350)
    assert data.endswith(b"\xff\xd9")
    markers = [m for m, _ in _segments(data)]
    assert markers[-4:] == [0xDB, 0xC0, 0xC4, 0xDA]
    assert set(markers[:-4]) <= {0xFE}  # only comment filler before the image's own segments
    assert all(length <= MAX_SEGMENT_PAYLOAD + 4 for _, length in _segments(data))


def test_every_seed_gives_other_bytes_and_the_scan_never_holds_a_bare_marker() -> None:
    first, second = (jpeg(64, 64, size_bytes=20_000, seed=s) for s in (1, 2))
    assert first != second
    assert len(first) == len(second)
    for shade in (0, 127, 128, 255):
        data = jpeg(33, 17, shade=shade)
        scan = data[sum(length for _, length in _segments(data)) + 2 : -2]
        assert all(scan[i + 1] == 0x00 for i in range(len(scan) - 1) if scan[i] == 0xFF)  # 0xFF is stuffed


def test_bad_images_are_refused() -> None:
    with pytest.raises(ValueError, match="width"):
        jpeg(0, 10)
    with pytest.raises(ValueError, match="shade"):
        jpeg(10, 10, shade=256)
    with pytest.raises(ValueError, match="SOI"):
        jpeg_dimensions(b"GIF89a")


def _item(status: str, late_s: float | None) -> dict[str, Any]:
    scheduled = DUE
    published = None if late_s is None else (DUE + dt.timedelta(seconds=late_s)).isoformat()
    return {"status": status, "scheduled_at": scheduled.isoformat(), "published_at": published}


def test_batch_figures_count_rate_lateness_and_image_throughput() -> None:
    items = [_item("published", 0.5), _item("published", 2.0), _item("failed", None), _item("published", 1.0)]
    figures = batch_figures(items, DUE, 4, image_bytes=1024 * 1024)
    assert figures["published"] == 3
    assert figures["statuses"] == {"failed": 1, "published": 3}
    assert figures["seconds_to_last_on_platform"] == 2.0
    assert figures["posts_per_second"] == 1.5
    assert figures["lateness_ms"]["max"] == 2000.0
    assert figures["image_mib_per_second"] == 1.5
    assert "image_mib_per_second" not in batch_figures(items, DUE, 4)
    assert batch_figures([_item("failed", None)], DUE, 1)["posts_per_second"] is None


def test_compare_sets_the_text_burst_beside_images_against_alone() -> None:
    alone = batch_figures([_item("published", 1.0)] * 100, DUE, 100)
    beside = batch_figures([_item("published", 2.0)] * 100, DUE, 100)
    compared = compare(alone, beside)
    assert compared["rate_ratio"] == 0.5
    assert compared["lateness_ms"]["p99"] == [1000.0, 2000.0]
    assert compare({"posts_per_second": None}, beside)["rate_ratio"] is None


def _cpu(busy: float, ours: float) -> dict[str, Any]:
    return {
        "wall_seconds": 10.0,
        "machine_busy_core_seconds": busy,
        "machine_capacity_core_seconds": 20.0,
        "other_processes_core_seconds": busy - ours,
        "cpu_seconds": {"scheduler": ours / 2, "publisher-x": ours / 2},
    }


def _results(ratio_late: float, busy: float = 19.0) -> dict[str, Any]:
    alone = {**batch_figures([_item("published", 1.0)] * 600, DUE, 600), "cpu": _cpu(10.0, 9.0)}
    text = batch_figures([_item("published", ratio_late)] * 600, DUE, 600)
    images = batch_figures([_item("published", 3.0)] * 90, DUE, 90, image_bytes=1_000_000)
    return {
        "media": {
            "image_posts": 90,
            "text_posts": 600,
            "image_bytes": 1_000_000,
            "accounts": 30,
            "images_uploaded": {"count": 3, "seconds": 0.5, "mib_per_second": 5.7, "concurrency": 4},
            "text_alone": alone,
            "together": {
                "release": {"approved_before_due": True},
                "cpu": _cpu(busy, busy - 1.0),
                "images": images,
                "text": text,
            },
            "text_beside_images": compare(alone, text),
            "image_cpu_ms_per_post": {"publisher-x": 20.0, "objectstore": 10.0, "total": 45.0},
        }
    }


def test_the_report_prints_both_rates_and_the_text_lateness_with_and_without_images() -> None:
    table = render(_results(ratio_late=1.1))
    assert "text burst alone: posts per second" in table
    assert "600.0" in table
    assert "text burst beside images: posts per second" in table
    assert "545.5" in table
    assert "image burst: posts per second" in table
    assert "30.0" in table
    assert "28.6 MiB/s of images to the platforms" in table
    assert "text lateness alone p50 / p95 / p99 / max" in table
    assert "machine busy: text alone / together" in table
    assert "50% / 95%" in table
    assert "CPU per image post, beyond the text burst" in table
    assert "publisher-x 20.0, objectstore 10.0" in table
    assert "text rate beside images / alone" in table
    assert "0.91" in table
    assert f"{MEDIA_TARGET}: 0.9 x (goal >= 0.8 x the text burst's rate alone) -> met" in table


def test_a_starved_text_burst_misses_the_target_and_gets_a_finding() -> None:
    results = _results(ratio_late=4.0)
    verdict = {t.name: t.met for t in targets(results)}
    assert verdict[MEDIA_TARGET] is False
    (finding,) = [f["finding"] for f in explain(results) if f["target"] == MEDIA_TARGET]
    assert "150.0 posts/s against 600.0 alone" in finding
    assert "1000.0 -> 4000.0 ms" in finding
    assert "95% busy" in finding
    assert "45.0 ms of CPU beyond the text burst (publisher-x 20.0, objectstore 10.0 ms) against 15.0 ms" in finding
    assert "the cores are the limit" in finding
    (idle,) = [f["finding"] for f in explain(_results(ratio_late=4.0, busy=12.0)) if f["target"] == MEDIA_TARGET]
    assert "60% busy" in idle
    assert "a queue and a prefetch window of their own" in idle
    assert MEDIA_TARGET not in {t.name for t in targets({})}
    disturbed = _results(ratio_late=4.0)
    disturbed["media"]["disturbed"] = ["broker restarted"]
    assert {t.name: t.met for t in targets(disturbed)}[MEDIA_TARGET] is None


def test_image_cost_is_the_cpu_beyond_the_text_burst_per_image_post() -> None:
    alone = CpuWindow(10.0, {"publisher-x": 1.0, "scheduler": 2.0, "objectstore": 0.1}, 5.0)
    together = CpuWindow(12.0, {"publisher-x": 3.0, "scheduler": 2.1, "objectstore": 1.1, "media": 0.0}, 9.0)
    cost = image_cost(alone, together, 100)
    assert list(cost) == ["publisher-x", "objectstore", "scheduler", "media", "total"]
    assert cost["publisher-x"] == 20.0
    assert cost["objectstore"] == 10.0
    assert cost["total"] == 31.0
    assert image_cost(alone, together, 0) == {}
