"""The human-readable table and the target verdicts of a run (the JSON is the results dict itself)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

WRAP = 118
MEDIA_TARGET = "text burst beside images"
CPU_TARGET = "CPU per post (burst, all processes)"
BURST_LATENESS_TARGET = "burst lateness p99"
PRECISION_TARGET = "lateness p99 at 100 posts/s"
PRECISION_FAST_TARGET = "lateness p99 at 300 posts/s"
MEDIA_RATIO = 0.8
"""Media must not starve text: the text burst beside the image burst keeps at least this share of its rate alone."""
FLAT_RATIO = 1.5
FLAT_SLACK_MS = 10.0
"""The due loop's pass counts as flat if its p50 with the largest table is within FLAT_RATIO of the smallest's, or
no more than FLAT_SLACK_MS slower (a few milliseconds of noise on a busy 2-core machine are not growth)."""


def pass_ms(size: dict[str, Any]) -> float:
    """What one due-loop pass that claims a full batch costs: the claim, then the outlook the loop always runs
    after a claim that did not fill the batch (p50 of each)."""
    return float(size["claim_batch_ms"]["p50"]) + float(size["outlook_ms"]["p50"])


@dataclass(frozen=True)
class Target:
    name: str
    goal: str
    value: float | None
    unit: str
    met: bool | None

    def as_json(self) -> dict[str, Any]:
        return {"target": self.name, "goal": self.goal, "value": self.value, "unit": self.unit, "met": self.met}


def lookup(results: dict[str, Any], *path: str) -> Any:
    """``results[path[0]][path[1]]...``, or None where the path leads nowhere (a phase that did not run)."""
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def disturbed(results: dict[str, Any]) -> dict[str, list[str]]:
    """Phases during which the broker or the database restarted (their figures include an outage)."""
    return {
        name: phase["disturbed"]
        for name, phase in results.items()
        if isinstance(phase, dict) and phase.get("disturbed")
    }


def targets(results: dict[str, Any]) -> list[Target]:
    """Each of the issue's goals with this run's figure (reported, never asserted; no verdict on a disturbed
    phase)."""
    found = _targets(results)
    phases = {"burst throughput": "burst", PRECISION_TARGET: "precision", PRECISION_FAST_TARGET: "precision_fast"}
    phases[CPU_TARGET] = phases[BURST_LATENESS_TARGET] = "burst"
    phases["claim latency"] = "scale"
    phases["audit ingest"] = "audit_ingest"
    phases["single create p99 (32 clients)"] = phases["bulk scheduling"] = "scheduling"
    phases[MEDIA_TARGET] = "media"
    hit = disturbed(results)
    return [Target(t.name, t.goal, t.value, t.unit, None) if phases.get(t.name) in hit else t for t in found]


def peer_ratio(results: dict[str, Any]) -> float | None:
    """Herald's burst rate divided by the Celery peer's, measured in the same run (``None`` if either is missing)."""
    herald = lookup(results, "burst", "posts_per_second")
    other = lookup(results, "peer", "posts_per_second")
    if not herald or not other or not lookup(results, "peer", "ran"):
        return None
    return round(float(herald) / float(other), 3)


def _targets(results: dict[str, Any]) -> list[Target]:
    found: list[Target] = []
    burst = lookup(results, "burst", "posts_per_second")
    found.append(
        Target("burst throughput", ">= 400 posts/s", burst, "posts/s", None if burst is None else burst >= 400)
    )
    late = lookup(results, "burst", "lateness_ms", "p99")
    found.append(Target(BURST_LATENESS_TARGET, "<= 25,000 ms", late, "ms", None if late is None else late <= 25_000))
    cpu = lookup(results, "burst", "cpu_ms_per_post", "total")
    found.append(Target(CPU_TARGET, "<= 4 ms", cpu, "ms", None if cpu is None else cpu <= 4))
    p99 = lookup(results, "precision", "lateness_ms", "p99")
    found.append(Target(PRECISION_TARGET, "<= 250 ms", p99, "ms", None if p99 is None else p99 <= 250))
    p99 = lookup(results, "precision_fast", "lateness_ms", "p99")
    found.append(Target(PRECISION_FAST_TARGET, "<= 1,000 ms", p99, "ms", None if p99 is None else p99 <= 1000))
    sizes = lookup(results, "scale", "sizes") or []
    if len(sizes) >= 2:
        small, large = pass_ms(sizes[0]), pass_ms(sizes[-1])
        ratio = round(large / small, 2) if small else None
        flat = ratio is not None and (ratio <= FLAT_RATIO or large - small <= FLAT_SLACK_MS)
        goal = (
            f"flat {sizes[0]['future_rows']:,} -> {sizes[-1]['future_rows']:,} rows (a due-loop pass, claim +"
            f" outlook p50, within {FLAT_RATIO}x or +{FLAT_SLACK_MS:.0f} ms)"
        )
        found.append(Target("claim latency", goal, ratio, "x", None if ratio is None else flat))
    audit = lookup(results, "audit_ingest", "events_per_second")
    found.append(
        Target("audit ingest", ">= 5,000 events/s", audit, "events/s", None if audit is None else audit >= 5000)
    )
    ratio = peer_ratio(results)
    found.append(
        Target("burst vs the Celery peer", ">= 1.0 (Herald / peer)", ratio, "x", None if ratio is None else ratio >= 1)
    )
    if results.get("scheduling"):
        found.extend(_scheduling_targets(results))
    if results.get("media"):
        ratio = lookup(results, "media", "text_beside_images", "rate_ratio")
        goal = f">= {MEDIA_RATIO} x the text burst's rate alone"
        found.append(Target(MEDIA_TARGET, goal, ratio, "x", None if ratio is None else ratio >= MEDIA_RATIO))
    idle = lookup(results, "memory", "idle_rss_mib") or {}
    services = {k: v for k, v in idle.items() if not k.startswith("sandbox-") and k != "objectstore"}  # not Herald's
    worst = max(services.values(), default=None)
    found.append(
        Target("idle RSS per service", "<= 120 MB", worst, "MiB (largest)", None if worst is None else worst <= 120)
    )
    return found


def _scheduling_targets(results: dict[str, Any]) -> list[Target]:
    single = lookup(results, "scheduling", "single", "latency_ms", "p99")
    bulk = lookup(results, "scheduling", "bulk", "distributions_per_second")
    return [
        Target("single create p99 (32 clients)", "< 50 ms", single, "ms", None if single is None else single < 50),
        Target(
            "bulk scheduling",
            ">= 2,000 distributions/s",
            bulk,
            "distributions/s",
            None if bulk is None else bulk >= 2000,
        ),
    ]


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _ms(summary: dict[str, Any] | None, keys: Iterable[str] = ("p50", "p95", "p99", "max")) -> str:
    if not summary or not summary.get("count"):
        return "n/a"
    return " / ".join(_fmt(summary.get(k)) for k in keys) + " ms"


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "n/a"}[met]


class Table:
    """Rows of (label, value, note) under section headings, printed as aligned columns."""

    def __init__(self, verdicts: dict[str, Target]) -> None:
        self.rows: list[tuple[str, str, str]] = []
        self.verdicts = verdicts

    def section(self, title: str) -> None:
        self.rows.append((title, "", ""))

    def row(self, label: str, value: str, note: str = "") -> None:
        self.rows.append(("  " + label, value, note))

    def target(self, name: str) -> str:
        t = self.verdicts.get(name)
        return "" if t is None else f"target {t.goal}: {_verdict(t.met)}"

    def lines(self) -> list[str]:
        if not self.rows:
            return []
        data = [r for r in self.rows if r[1] or r[2]] or self.rows
        width = max(len(r[0]) for r in data) + 2
        value_width = max(len(r[1]) for r in data) + 2
        return [f"{a:<{width}}{b:<{value_width}}{c}".rstrip() if b or c else a for a, b, c in self.rows]


def _claim(claim: dict[str, Any] | None) -> str:
    claim = claim or {}
    return f"{claim.get('p50_ms', 'n/a')} / {claim.get('p99_ms', 'n/a')} ms"


def _reference(t: Table, ref: dict[str, Any]) -> None:
    if not ref:
        return
    t.section("reference: the broker on this machine (raw aio-pika, quorum queue, persistent, confirms)")
    for loop in ("asyncio", "uvloop"):
        r = ref.get(loop)
        if r:
            rate = f"{_fmt(r['publish_confirm_per_second'], 0)} msg/s"
            t.row(f"publish-confirm, windows of {r['publish_window']} ({loop})", rate)
            t.row(f"consume-ack, prefetch {r['prefetch']} ({loop})", f"{_fmt(r['consume_ack_per_second'], 0)} msg/s")


def _late_release(t: Table, phase: dict[str, Any]) -> None:
    release = phase.get("release") or {}
    if release.get("approved_before_due") is False:
        t.row(
            "WARNING: seeding overran the due time", f"released {release.get('overrun_s')} s late", "lateness inflated"
        )
    if release.get("scheduled_events_audited_before_release") is False:
        t.row("WARNING: audit still ingesting the seeding", "at the release", "lateness may be inflated")


def _burst(t: Table, burst: dict[str, Any], ref: dict[str, Any]) -> None:
    t.section(f"burst: {_fmt(burst['distributions'])} distributions over {burst['accounts']} accounts, due at once")
    s = burst["seeding"]
    note = f"{_fmt(s['count'])} in {s['seconds']} s, {s['concurrency']} concurrent"
    t.row("seeding through the bulk API", f"{_fmt(s['per_second'], 0)} distributions/s", note)
    _late_release(t, burst)
    t.row("published / final states", f"{_fmt(burst['published'])} / {burst['statuses']}")
    t.row("last post on its platform", f"{_fmt(burst['seconds_to_last_on_platform'], 2)} s")
    note = f"scheduler {burst['seconds_to_last_in_scheduler']} s, audit {burst['seconds_to_last_audited']} s"
    t.row("all published and audited", f"{_fmt(burst['seconds_until_all_published_and_audited'], 2)} s", note)
    t.row("posts per second (published and audited)", _fmt(burst["posts_per_second"]), t.target("burst throughput"))
    onto = burst.get("posts_per_second_to_platform")
    raw = (ref.get("uvloop") or {}).get("publish_confirm_per_second")
    note = f"{onto / raw:.1%} of the raw publish-confirm rate (uvloop)" if onto and raw else ""
    t.row("posts per second onto the platforms", _fmt(onto), note)
    t.row("lateness p50 / p95 / p99 / max", _ms(burst["lateness_ms"]))
    t.row("due loop claim lateness p50 / p99", _claim(burst.get("claim_lateness")), "the scheduler's histogram")
    per_post = burst.get("cpu_ms_per_post") or {}
    if per_post.get("total"):
        top = ", ".join(f"{k} {v:.1f}" for k, v in list(per_post.items())[:5] if k != "total")
        t.row("CPU per post, all processes", f"{per_post['total']:.1f} ms", top)
    cpu = burst.get("cpu") or {}
    if cpu.get("machine_capacity_core_seconds") and "steal_core_seconds" in cpu:
        share = cpu["steal_core_seconds"] / cpu["machine_capacity_core_seconds"]
        t.row("cores taken by the hypervisor (steal)", f"{share:.1%}", "of the machine during the burst")


def _media(t: Table, media: dict[str, Any]) -> None:
    t.section(
        f"media: {_fmt(media['image_posts'])} image posts ({_fmt(media['image_bytes'])} bytes each) beside"
        f" {_fmt(media['text_posts'])} text posts, over {media['accounts']} accounts"
    )
    up = media.get("images_uploaded") or {}
    t.row(
        "images uploaded to the media service",
        f"{_fmt(up.get('count'))} in {_fmt(up.get('seconds'), 2)} s",
        f"{_fmt(up.get('mib_per_second'))} MiB/s, {up.get('concurrency')} concurrent",
    )
    alone, together = media.get("text_alone") or {}, media.get("together") or {}
    images, text = together.get("images") or {}, together.get("text") or {}
    _late_release(t, together)
    t.row("text burst alone: posts per second", _fmt(alone.get("posts_per_second")), _published(alone))
    t.row("text burst beside images: posts per second", _fmt(text.get("posts_per_second")), _published(text))
    note = f"{_published(images)}; {_fmt(images.get('image_mib_per_second'))} MiB/s of images to the platforms"
    t.row("image burst: posts per second", _fmt(images.get("posts_per_second")), note)
    t.row("text lateness alone p50 / p95 / p99 / max", _ms(alone.get("lateness_ms")))
    t.row("text lateness beside images", _ms(text.get("lateness_ms")))
    t.row("image lateness", _ms(images.get("lateness_ms")))
    ratio = (media.get("text_beside_images") or {}).get("rate_ratio")
    t.row("text rate beside images / alone", _fmt(ratio, 2), t.target(MEDIA_TARGET))
    shares = [busy_share(run.get("cpu")) for run in (alone, together)]
    others = [other_share(run.get("cpu")) for run in (alone, together)]
    if all(share is not None for share in shares):
        t.row(
            "machine busy: text alone / together",
            " / ".join(f"{share:.0%}" for share in shares if share is not None),
            "other processes: " + " / ".join(f"{share:.0%}" for share in others if share is not None),
        )
    cost = media.get("image_cpu_ms_per_post") or {}
    if cost:
        top = ", ".join(f"{name} {ms}" for name, ms in list(cost.items())[:5] if name != "total")
        t.row("CPU per image post, beyond the text burst", f"{_fmt(cost.get('total'))} ms", top)


def busy_share(cpu: dict[str, Any] | None) -> float | None:
    """How busy the whole machine was over a CPU window (0..1), or None without figures."""
    capacity = (cpu or {}).get("machine_capacity_core_seconds")
    return float(cpu["machine_busy_core_seconds"]) / capacity if cpu and capacity else None


def other_share(cpu: dict[str, Any] | None) -> float | None:
    """The share of the machine processes outside the run used over a CPU window."""
    capacity = (cpu or {}).get("machine_capacity_core_seconds")
    return float(cpu["other_processes_core_seconds"]) / capacity if cpu and capacity else None


def _published(batch: dict[str, Any]) -> str:
    return f"{_fmt(batch.get('published'))} of {_fmt(batch.get('distributions'))} published"


def _peer(t: Table, peer: dict[str, Any], herald: dict[str, Any] | None) -> None:
    t.section("the Celery peer: the same burst through a plain Celery + RabbitMQ worker (../shared/peer-bench)")
    if not peer.get("ran"):
        t.row("not run", "", str(peer.get("reason", "")))
        return
    note = f"{peer.get('config')}, median of {peer.get('runs')} burst(s) {peer.get('posts_per_second_each_run')}"
    t.row(f"{_fmt(peer.get('posts'))} posts, posts per second", _fmt(peer.get("posts_per_second")), note)
    t.row("lateness p50 / p95 / p99 / max", _ms({"count": 1, **(peer.get("lateness_ms") or {})}))
    others = [f"{share:.0%}" for share in peer.get("others_percent_of_machine_each_run") or [] if share is not None]
    if others:
        t.row("machine used by other processes meanwhile", " / ".join(others), "each burst; its rate depends on it")
    checks = "passed" if peer.get("ok") else "FAILED"
    t.row("its checks (every post once, every audit row)", checks, peer.get("error") or "")
    rate = (herald or {}).get("posts_per_second")
    ratio = t.verdicts.get("burst vs the Celery peer")
    t.row(
        "Herald / peer burst rate",
        f"{_fmt(ratio.value if ratio else None, 2)} x",
        f"Herald {_fmt(rate)} posts/s; {t.target('burst vs the Celery peer')}",
    )


def _precision(t: Table, precision: dict[str, Any], target: str) -> None:
    t.section(f"precision: {precision['rate_per_second']} posts/s, distinct due times, for {precision['seconds']} s")
    _late_release(t, precision)
    t.row("published / final states", f"{_fmt(precision['published'])} / {precision['statuses']}")
    t.row("lateness p50 / p95 / p99 / max", _ms(precision["lateness_ms"]), t.target(target))
    t.row("due loop claim lateness p50 / p99", _claim(precision.get("claim_lateness")))


def _scale(t: Table, scale: dict[str, Any]) -> None:
    t.section("scale: the due loop's queries with future distributions in the table (rows seeded by SQL)")
    for size in scale["sizes"]:
        label = f"{_fmt(size['scheduled_rows_in_table'])} scheduled"
        explain = size.get("explain_execution_ms") or {}
        server = "EXPLAIN ANALYZE {} ms"
        t.row(
            f"{label}: claim_due ({size['batch']} due), p50 / p99",
            _ms(size["claim_batch_ms"], ("p50", "p99")),
            server.format(explain.get("claim_due")),
        )
        t.row(
            f"{label}: due_outlook, p50 / p99",
            _ms(size["outlook_ms"], ("p50", "p99")),
            server.format(explain.get("due_outlook")),
        )
        t.row(f"{label}: idle pass (nothing due), p50 / p99", _ms(size["idle_pass_ms"], ("p50", "p99")))
        probe = size["probe"]
        t.row(
            f"{label}: due loop claim lateness p50 / p99", _claim(probe["claim_lateness"]), "the scheduler's histogram"
        )
        t.row(
            f"{label}: {probe['rate_per_second']} posts/s probe, lateness p50 / p99",
            _ms(probe["lateness_ms"], ("p50", "p99")),
        )
    flat = t.verdicts.get("claim latency")
    if flat:
        t.row(
            "due-loop pass (claim + outlook p50), largest / smallest",
            f"{_fmt(flat.value, 2)} x",
            t.target("claim latency"),
        )


def _audit(t: Table, audit: dict[str, Any]) -> None:
    t.section("audit ingest: valid events published straight to the broker")
    t.row("events per second", _fmt(audit["events_per_second"]), t.target("audit ingest"))
    per_event = (audit.get("cpu_ms_per_event") or {}).get("audit")
    if per_event:
        t.row("audit CPU per event", f"{per_event:.2f} ms")
    counts = f"{_fmt(audit.get('events'))} / {_fmt(audit.get('rows'))} / {audit.get('seconds_to_last_row')} s"
    t.row("events / rows / seconds", counts)
    cpu = audit.get("cpu") or {}
    capacity = cpu.get("machine_capacity_core_seconds") or 0
    if capacity:
        share = (cpu.get("other_processes_core_seconds") or 0) / capacity
        t.row("machine used by other processes meanwhile", f"{share:.0%}", "the drain rate depends on it")
    paced = audit.get("paced")
    if paced:
        t.row(
            f"latency at {_fmt(paced['rate_per_second'])} events/s, p50 / p95 / p99 / max",
            _ms(paced.get("latency_ms")),
            "recorded_at - occurred_at (the batch wait is bounded)",
        )


def _scheduling(t: Table, scheduling: dict[str, Any], calibration: dict[str, Any] | None) -> None:
    t.section("scheduling through the API (a year ahead, on draft content)")
    if calibration:
        note = f"{calibration['count']} calls, {calibration['concurrency']} clients, at start-up"
        t.row("calibration: single creates per second", _fmt(calibration["per_second"], 0), note)
        t.row("calibration: latency p50 / p95 / p99 / max", _ms(calibration["latency_ms"]))
    single = scheduling["single"]
    note = f"{single['count']:,} calls, {single['concurrency']} clients; scheduler CPU"
    note += f" {_fmt(single.get('scheduler_cpu_ms_per_call'), 2)} ms per call"
    t.row("single creates per second", _fmt(single["per_second"], 0), note)
    t.row(
        "single create latency p50 / p95 / p99 / max",
        _ms(single["latency_ms"]),
        t.target("single create p99 (32 clients)"),
    )
    per_call = single.get("cpu_ms_per_call")
    if per_call:
        shown = ", ".join(f"{name} {ms}" for name, ms in per_call.items() if name != "total" and ms >= 0.05)
        client = single.get("bench_client_cpu_ms_per_call")
        t.row("single create CPU ms per call", _fmt(per_call.get("total"), 2), f"{shown}; bench client {client}")
    window = single.get("cpu") or {}
    if window.get("machine_capacity_core_seconds"):
        share = window["other_processes_core_seconds"] / window["machine_capacity_core_seconds"]
        t.row("other processes' share of the machine meanwhile", f"{share:.0%} of its CPU", "not Herald's work")
    paced = scheduling.get("single_paced")
    if paced:
        note = f"{paced['count']:,} calls, open loop, up to {paced['concurrency']} clients"
        t.row(f"single creates paced at {paced['rate_per_second']}/s: latency", _ms(paced["latency_ms"]), note)
    bulk = scheduling["bulk"]
    requests = bulk["requests"]
    note = f"{requests['count']} requests of {bulk['items_per_request']:,}, {requests['concurrency']} at a time;"
    note += f" scheduler CPU {_fmt(bulk.get('scheduler_cpu_ms_per_distribution'), 3)} ms per distribution"
    t.row("bulk: distributions per second", _fmt(bulk["distributions_per_second"], 0), note)
    t.row("bulk: request latency p50 / p95 / p99 / max", _ms(requests["latency_ms"]), t.target("bulk scheduling"))


def _memory(t: Table, memory: dict[str, Any], peak: dict[str, Any]) -> None:
    t.section("memory: RSS per process, MiB (idle / peak under the burst)")
    for name, idle in memory.get("idle_rss_mib", {}).items():
        t.row(name, f"{_fmt(idle)} / {_fmt(peak.get(name))}")
    worst = t.verdicts.get("idle RSS per service")
    t.row("largest service idle RSS", _fmt(worst.value if worst else None), t.target("idle RSS per service"))


def _verification(t: Table, verification: dict[str, Any]) -> None:
    t.section("verification over the whole run")
    for key, value in verification.items():
        t.row(key.replace("_", " "), _fmt(value))


def _sections(table: Table, results: dict[str, Any]) -> None:
    """One section per phase that ran, in the order a reader compares them."""
    ref = results.get("reference") or {}
    if ref:
        _reference(table, ref)
    if results.get("burst"):
        _burst(table, results["burst"], ref)
    if results.get("media"):
        _media(table, results["media"])
    if results.get("peer"):
        _peer(table, results["peer"], results.get("burst"))
    if results.get("precision"):
        _precision(table, results["precision"], PRECISION_TARGET)
    if results.get("precision_fast"):
        _precision(table, results["precision_fast"], PRECISION_FAST_TARGET)
    if results.get("scale"):
        _scale(table, results["scale"])
    if results.get("audit_ingest"):
        _audit(table, results["audit_ingest"])
    if results.get("scheduling"):
        _scheduling(table, results["scheduling"], results.get("calibration"))
    if results.get("memory"):
        _memory(table, results["memory"], (results.get("burst") or {}).get("peak_rss_mib", {}))
    if results.get("verification"):
        _verification(table, results["verification"])


def render(results: dict[str, Any]) -> str:
    verdicts = {t.name: t for t in targets(results)}
    table = Table(verdicts)
    _sections(table, results)
    machine = results.get("machine", {})
    head = [
        f"Herald benchmark {results.get('run_id', '')} ({results.get('mode', '')} run),"
        f" started {results.get('started_at', '')}"
        + (f"; phases: {', '.join(results['phases'])}" if results.get("phases") else ""),
        f"machine: {machine.get('cpu_model')}, {machine.get('cores')} cores, {machine.get('memory_gib')} GiB,"
        f" Python {machine.get('python')}, RabbitMQ {machine.get('rabbitmq')}, PostgreSQL {machine.get('postgresql')},"
        f" load average at start {machine.get('load_average_at_start')}",
        "",
    ]
    tail = ["", "targets (reported, not asserted):"]
    tail += [f"  {t.name}: {_fmt(t.value)} {t.unit} (goal {t.goal}) -> {_verdict(t.met)}" for t in verdicts.values()]
    if results.get("error"):
        tail += ["", f"the run did not finish: {results['error']}"]
    for phase, reasons in disturbed(results).items():
        tail += [f"DISTURBED {phase}: {'; '.join(reasons)} (no verdict: the figures include an outage)"]
    findings = results.get("findings") or []
    if findings:
        tail += ["", "what limits the missed targets, and what would fix it:"]
        for f in findings:
            tail += textwrap.wrap(
                f"[{f['target']}] {f['finding']}", WRAP, initial_indent="  - ", subsequent_indent="    "
            )
    return "\n".join(head + table.lines() + tail)
