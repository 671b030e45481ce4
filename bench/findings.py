"""What limits each missed target and what would fix it: this run's evidence (CPU per post, profiles, query plans)
joined to the analysis recorded when the benchmark was written (2026-11-28, profiled with py-spy on the 2-core CI
machine kind). Re-run with ``--profile`` to refresh the profile shares."""

from __future__ import annotations

import re
from typing import Any

from bench.report import (
    BURST_LATENESS_TARGET,
    CPU_TARGET,
    PRECISION_FAST_TARGET,
    PRECISION_TARGET,
    busy_share,
    disturbed,
    lookup,
    other_share,
    targets,
)

CORES = 2
MEDIA_CPU_BOUND = 0.85
"""A machine this busy (share of all cores) while the media phase ran is CPU-bound."""
RECORDED_PROFILE = {
    "publisher": "the event loop ~42%, asyncpg ~13%, the HTTP client ~15%, the AMQP client ~6% of samples",
    "scheduler": "the event loop ~51% (the relay's socket writes most), asyncpg ~18%, the AMQP client ~12%",
    "audit": "the event loop ~37%, Herald's intake checks and redaction ~19%, asyncpg ~10%, the AMQP client ~11%",
}
"""py-spy shares of a burst-only run recorded on 2026-12-04 at 5450cf4 (publishers on the kit's aiormq consumer);
a --profile run replaces them."""


BURST_ANALYSIS = (
    "{head} Where it goes: publishers: {publisher}; by Herald call site {ledger} of a publisher's samples are the"
    " ledger (claims and marks of concurrent deliveries coalesced into one set-based statement each) and {send} the"
    " platform call (the HTTP client alone is {http_ms} of the publisher's {publisher_ms} ms of CPU per post); the"
    " rest is per delivery: the task aiormq starts for it, publishing its outcome with a confirm, acknowledging it"
    " (in runs of consecutive tags), and the event loop around them. Scheduler: {scheduler}; {tracking} of its"
    " samples apply outcomes (a batch per transaction) or run its repository. Per post RabbitMQ carries two events"
    " (the request, its outcome), each into two quorum queues (the publisher's or the scheduler's, and audit's);"
    " PostgreSQL writes the distribution twice (the claim takes it out of the due index; its outcome is a HOT update"
    " when the page has room), an outbox row (deleted once relayed), the ledger's claim and mark (HOT updates,"
    " each statement shared by a batch), the attempt and consumed-event rows, and two audit rows, and the vacuum"
    " after the burst clears their dead versions (counted). Fixes, biggest first: (1) the publishers: handle"
    " deliveries as batches end to end (one claim, one mark, one window of outcome publishes and one multiple ack"
    " per batch) rather than a task, two coalesced statements and a confirm wait per delivery; (2) more cores: the"
    " cost is per-post CPU, so replicas scale it once there are cores to run them. The platform sandboxes' share is"
    " CPU a production deployment does not spend."
)


def _top(per_post: dict[str, float], n: int = 6) -> str:
    ranked = [(k, v) for k, v in per_post.items() if k != "total"][:n]
    return ", ".join(f"{k} {v:.1f}" for k, v in ranked)


def _profile_note(results: dict[str, Any], service: str, recorded: str) -> str:
    profile = lookup(results, "burst", "profiles", service)
    if not profile or not profile.get("through_component"):
        return f"{recorded} (recorded profile)"
    shares = sorted(profile["through_component"].items(), key=lambda kv: -kv[1])[:4]
    return ", ".join(f"{name} {share:.0%}" for name, share in shares) + " of samples (this run)"


def _caller_share(results: dict[str, Any], service: str, prefix: str, recorded: str, *more: str) -> str:
    """The share of a service's samples whose innermost Herald frame starts with ``prefix`` (or ``more``).
    SQLAlchemy runs queries in greenlets whose sampled stacks lose their Herald callers, so this is a floor."""
    callers = lookup(results, "burst", "profiles", service, "by_herald_caller")
    if not callers:
        return recorded
    prefixes = (prefix, *more)
    return f"{sum(c['share'] for c in callers if c['name'].startswith(prefixes)):.0%}"


def _component_ms(results: dict[str, Any], service: str, component: str) -> str:
    """CPU ms per post a component costs a service: its share of the service's samples x the service's CPU."""
    share = lookup(results, "burst", "profiles", service, "through_component", component)
    cpu = lookup(results, "burst", "cpu_ms_per_post", service)
    return f"~{share * cpu:.1f} ms" if share is not None and cpu else "a large part"


def burst(results: dict[str, Any]) -> str:
    per_post = lookup(results, "burst", "cpu_ms_per_post") or {}
    total = per_post.get("total")
    cpu = lookup(results, "burst", "cpu") or {}
    capacity = cpu.get("machine_capacity_core_seconds") or 0
    other = cpu.get("other_processes_core_seconds") or 0
    busy = cpu.get("machine_busy_core_seconds") or 0
    head = (
        f"CPU-bound, not broker-bound: the run spent {total:.1f} ms of CPU per post over all processes"
        f" ({_top(per_post)} ms), which caps 2 cores at ~{CORES * 1000 / total:.0f} posts/s even with the machine"
        f" to itself (during the burst the machine was {busy / capacity:.0%} busy, {other / capacity:.0%} of it"
        " outside this run). 400 posts/s needs <= 5 ms per post; the goal is <= 4 ms."
        if total and capacity
        else "CPU-bound (no CPU figures in this run)."
    )
    return BURST_ANALYSIS.format(
        head=head,
        publisher=_profile_note(results, "publisher-x", RECORDED_PROFILE["publisher"]),
        scheduler=_profile_note(results, "scheduler", RECORDED_PROFILE["scheduler"]),
        ledger=_caller_share(results, "publisher-x", "publishing.ledger.", "~25%", "publishing.coalesce."),
        send=_caller_share(results, "publisher-x", "platforms.", "~15%"),
        tracking=_caller_share(results, "scheduler", "scheduler.tracking.", "~13%", "scheduler.repository."),
        http_ms=_component_ms(results, "publisher-x", "httpx / httpcore (HTTP client)"),
        publisher_ms=per_post.get("publisher-x", "?"),
    )


def precision(results: dict[str, Any], key: str = "precision") -> str:
    """Why a paced run's lateness p99 missed: whether the pipeline kept up, and where the lateness arose."""
    p = lookup(results, key) or {}
    rate = p.get("rate_per_second")
    burst_rate = lookup(results, "burst", "posts_per_second")
    lateness = p.get("lateness_ms") or {}
    claim_p99 = lookup(p, "claim_lateness", "p99_ms")
    where = (
        f"the due loop claimed with p99 {claim_p99} ms of lateness, so the rest arose after the claim (outbox relay,"
        " the work queue, the publisher, the platform call, the outcome)"
        if claim_p99 is not None
        else "no claim-lateness figures in this run"
    )
    if burst_rate and rate and rate >= burst_rate:
        return (
            f"At {rate} posts/s the pipeline does not keep up: it sustained ~{burst_rate} posts/s in the burst on this"
            f" machine, so a backlog builds through the run (p50 {lateness.get('p50')} ms, max {lateness.get('max')}"
            f" ms); {where}. Same limit and fixes as the burst: CPU per post."
        )
    load = f" ({rate / burst_rate:.0%} of the burst's sustained rate)" if burst_rate and rate else ""
    return (
        f"At {rate} posts/s{load} the pipeline keeps up on average (p50 {lateness.get('p50')} ms) but its tail"
        f" (p99 {lateness.get('p99')}, max {lateness.get('max')} ms) is queueing on a busy 2-core machine: {where}."
        " Less CPU per post shortens every queue on the way, as in the burst."
    )


def precision_fast(results: dict[str, Any]) -> str:
    return precision(results, "precision_fast")


def _other_share(results: dict[str, Any]) -> float:
    cpu = lookup(results, "burst", "cpu") or {}
    capacity = cpu.get("machine_capacity_core_seconds") or 0
    return (cpu.get("other_processes_core_seconds") or 0) / capacity if capacity else 0.0


def _grew(small: dict[str, Any], large: dict[str, Any], timing: str, query: str) -> str:
    """``p50 a -> b ms (EXPLAIN ANALYZE c -> d ms)`` for one of the due loop's queries."""
    text = f"p50 {small[timing]['p50']} -> {large[timing]['p50']} ms"
    before = (small.get("explain_execution_ms") or {}).get(query)
    after = (large.get("explain_execution_ms") or {}).get(query)
    return text + (f" (EXPLAIN ANALYZE {before} -> {after} ms)" if before and after else "")


_SEQ_SCAN = re.compile(r"Seq Scan on (\w+) .*\(actual time=[0-9.]+\.\.[0-9.]+ rows=(\d+)")
CLAIM_FIX = (
    " Fix (services/scheduler): keep the approval on the distribution (an `approved` flag set when content is"
    " approved or withdrawn, in the predicate of ix_distributions_due) so claiming, the next due time and the"
    " backlog count are index range scans over due rows with no join to contents, whatever the statistics say."
)


def _full_scans(size: dict[str, Any]) -> dict[str, int]:
    """Rows read by each sequential scan in the due loop's plans: ``"<query>: <table>" -> rows`` (summed)."""
    found: dict[str, int] = {}
    for query, lines in size["explain"].items():
        for line in lines:
            if match := _SEQ_SCAN.search(line):
                key = f"{query}: {match.group(1)}"
                found[key] = found.get(key, 0) + int(match.group(2)) * _loops(line)
    return found


def _loops(line: str) -> int:
    match = re.search(r"loops=(\d+)\)", line)
    return int(match.group(1)) if match else 1


def claim(results: dict[str, Any]) -> str:
    sizes = lookup(results, "scale", "sizes") or []
    small, large = sizes[0], sizes[-1]
    rows = f"{small['scheduled_rows_in_table']:,} to {large['scheduled_rows_in_table']:,} waiting rows"
    claim_growth = _grew(small, large, "claim_batch_ms", "claim_due")
    outlook_growth = _grew(small, large, "outlook_ms", "due_outlook")
    probe_small, probe_large = small["probe"], large["probe"]
    measured = (
        f"From {rows}: claim_due {claim_growth}; due_outlook {outlook_growth}; the loop's own claim lateness"
        f" (herald_due_loop_lateness_seconds, {probe_small['rate_per_second']} posts/s probe) p50"
        f" {probe_small['claim_lateness'].get('p50_ms')} -> {probe_large['claim_lateness'].get('p50_ms')} ms,"
        f" p99 {probe_small['claim_lateness'].get('p99_ms')} -> {probe_large['claim_lateness'].get('p99_ms')} ms."
    )
    before, after = _full_scans(small), _full_scans(large)
    grown = {key: n for key, n in after.items() if n > 2 * before.get(key, 0) and n >= 10_000}
    if not grown:
        return (
            f"{measured} No plan reads a table in full at either size (index range scans only), so the growth is not"
            f" the queries' own: other processes used {_other_share(results):.0%} of the machine during the burst and"
            " the timings are client-side. Compare the EXPLAIN ANALYZE times, or re-run on a quiet machine."
        )
    scans = "; ".join(f"{key} reads {n:,} rows (was {before.get(key, 0):,})" for key, n in grown.items())
    causes = []
    if any(key.endswith(": distributions") for key in grown):
        causes.append(
            "a query counts or aggregates every waiting distribution on each pass (a join over all scheduled rows"
            " rather than a range scan of the due ones)"
        )
    if any(key.endswith(": contents") for key in grown):
        causes.append(
            "the due rows are joined to contents with a hash join that reads every approved content item: the"
            " approval lives on contents, and the planner expects up to the count's cap of due rows, so hashing all"
            " of contents looks cheaper than one index probe per due row; the cost grows with approved content,"
            " not with what is due"
        )
    return f"{measured} Full scans that grew with the table: {scans}. Cause: {'; and '.join(causes)}.{CLAIM_FIX}"


AUDIT_COSTS = (
    "Where audit's CPU goes (profiled with cProfile on this machine kind, 2026-12-04): the AMQP client reading frames"
    " and decoding each delivery's header table (aiormq/pamqp) and the asyncio task aiormq starts per delivery, about"
    " a third; reading the CloudEvents headers and validating the event (contracts.read_amqp) and turning it into a"
    " row (audit.mapping: describe, redact, build), about a third; the batch's one INSERT ... SELECT FROM unnest and"
    " its transaction, the rest. Consuming already has no FastStream dependency injection, no aio-pika message"
    " object, and one basic.ack(multiple=True) per batch."
)


def audit(results: dict[str, Any]) -> str:
    a = lookup(results, "audit_ingest") or {}
    per_event = (a.get("cpu_ms_per_event") or {}).get("audit")
    cpu = a.get("cpu") or {}
    capacity = cpu.get("machine_capacity_core_seconds") or 0
    other = (cpu.get("other_processes_core_seconds") or 0) / capacity if capacity else 0.0
    cost = (
        f" audit spent {per_event:.2f} ms of CPU per event, so one core of its own would drain ~{1000 / per_event:,.0f}"
        " events/s;"
        if per_event
        else ""
    )
    return (
        f"{a.get('events_per_second')} events/s;{cost} other processes used {other:.0%} of the machine during the"
        f" phase, which is what the drain rate lost. 5,000/s needs <= 0.2 ms per event in one process with a core to"
        f" itself. {AUDIT_COSTS} Next: read the event with model_validate_json straight from the body (one pass"
        " instead of json.loads then validation), then several consumer processes (replicas) on the one queue: rows"
        " are deduplicated by event id, so replicas need no coordination."
    )


def peer(results: dict[str, Any]) -> str:
    herald = lookup(results, "burst", "posts_per_second")
    other = lookup(results, "peer") or {}
    per_post = lookup(results, "burst", "cpu_ms_per_post") or {}
    total, rate = per_post.get("total"), other.get("posts_per_second")
    cpu = f" ({total:.1f} ms of CPU per post over all processes)" if total else ""
    gap = (
        f" On {CORES} cores, matching the peer's rate needs about {CORES * 1000 / rate:.1f} ms of CPU per post against"
        f" this run's {total:.1f} ({_top(per_post)} ms)."
        if total and rate
        else ""
    )
    return (
        f"Herald published the burst at {herald} posts/s{cpu}; the Celery peer ({other.get('config')}, median of"
        f" {other.get('runs')} bursts of {other.get('posts')}) at {rate} posts/s, doing a"
        " token read and decrypt, one HTTP POST and one audit row per post. Herald does more per post (a claim, an"
        " outbox, outcome events, tracking, several audit rows), and the gap is that work's CPU." + gap
    )


def memory(results: dict[str, Any]) -> str:
    idle = lookup(results, "memory", "idle_rss_mib") or {}
    worst = max((v, k) for k, v in idle.items() if not k.startswith("sandbox-") and k != "objectstore")
    return (
        f"{worst[1]} idles at {worst[0]} MiB: every service imports FastAPI, FastStream, SQLAlchemy, pydantic and"
        " the platform SDK models at start-up; lazy imports of what a service does not use would trim it."
    )


def media(results: dict[str, Any]) -> str:
    m = lookup(results, "media") or {}
    alone, together = m.get("text_alone") or {}, m.get("together") or {}
    text, images = together.get("text") or {}, together.get("images") or {}
    late = (m.get("text_beside_images") or {}).get("lateness_ms") or {}
    p99 = late.get("p99") or [None, None]
    head = (
        f"Beside {images.get('published')} image posts ({images.get('posts_per_second')} posts/s,"
        f" {images.get('image_mib_per_second')} MiB/s to the platforms) the text burst ran at"
        f" {text.get('posts_per_second')} posts/s against {alone.get('posts_per_second')} alone (lateness p99"
        f" {p99[0]} -> {p99[1]} ms)."
    )
    busy, others = busy_share(together.get("cpu")), other_share(together.get("cpu"))
    cost = m.get("image_cpu_ms_per_post") or {}
    top = ", ".join(f"{name} {ms}" for name, ms in list(cost.items())[:4] if name != "total")
    if busy is None or not cost:
        return f"{head} (no CPU figures in this run.)"
    text_ms = _text_cpu_ms(alone, m.get("text_posts"))
    cpu = (
        f" The machine was {busy:.0%} busy while both ran ({others:.0%} of it other processes), and an image post"
        f" cost {cost.get('total')} ms of CPU beyond the text burst ({top} ms)"
        + (f" against {text_ms:.1f} ms for a text post alone." if text_ms else ".")
    )
    if busy >= MEDIA_CPU_BOUND:
        cause = (
            " So the cores are the limit: an image post does a text post's work plus its upload (reading 1 MB"
            " from the object store, the platform's upload calls, and here the sandboxes' side of them too, on"
            " the same machine), all on the same 2 cores the text posts need, so text slows by about that CPU."
            " Fixes: cheaper uploads (larger segments and parts where the platform allows, fewer HTTP round"
            " trips, streaming without copies), then more cores or publisher replicas on other machines;"
            " uploads are the place where replicas help first, since they add CPU for the upload work that text"
            " posts do not need."
        )
    else:
        first = late.get("min") or [None, None]
        landed = (
            f"; the first text post landed {first[0]} ms late alone and {first[1]} ms beside images"
            if None not in first
            else ""
        )
        cause = (
            " The cores were not saturated, and text posts do not wait behind uploads in a publisher: posts with"
            " media have a queue and a prefetch window of their own (publisher.<platform>.media). What is left is"
            " shared upstream and around them: the scheduler releases the image posts first"
            f" (due 2 ms earlier{landed}), and the platform sandboxes serve both. The text-alone reference"
            " varies from run to run on one machine; compare back-to-back runs before reading a change into this"
            " ratio."
        )
    return head + cpu + cause


def _text_cpu_ms(alone: dict[str, Any], posts: Any) -> float | None:
    """CPU milliseconds per text post over every process in the text-alone run (None without figures)."""
    used = (alone.get("cpu") or {}).get("cpu_seconds") or {}
    return sum(used.values()) * 1000 / posts if used and isinstance(posts, int) and posts > 0 else None


def single_create(results: dict[str, Any]) -> str:
    single = lookup(results, "scheduling", "single") or {}
    rate, clients = single["per_second"], single["concurrency"]
    costs = single.get("cpu_ms_per_call") or {}
    paced = lookup(results, "scheduling", "single_paced", "latency_ms", "p99")
    mean = clients / rate * 1000
    spread = single["latency_ms"]["p99"] / mean
    needed = clients * 1000 / 50 * spread  # the mean under 50 ms / spread, if the spread stays this run's
    return (
        f"{clients} clients in a closed loop wait {mean:.0f} ms per create on average at"
        f" {rate:.0f} creates/s: each call cost {costs.get('total', '?')} ms of CPU over all processes"
        f" ({_top(costs, 4)} ms), so the machine's {CORES} cores bound the rate and the queue of waiting clients sets"
        f" the latency. Paced below that capacity the same call answers at p99 {paced} ms. With this run's spread"
        f" (p99 {spread:.2f} x the mean), a p99 under 50 ms with {clients} clients needs about {needed:.0f} creates/s,"
        f" i.e. about {CORES * 1000 / needed:.1f} ms of CPU per create on this machine, or more cores (the API scales"
        " out with scheduler replicas)."
    )


EXPLAINERS = {
    "burst throughput": burst,
    BURST_LATENESS_TARGET: burst,
    CPU_TARGET: burst,
    "single create p99 (32 clients)": single_create,
    PRECISION_TARGET: precision,
    PRECISION_FAST_TARGET: precision_fast,
    "claim latency": claim,
    "audit ingest": audit,
    "burst vs the Celery peer": peer,
    "idle RSS per service": memory,
    "text burst beside images": media,
}


def explain(results: dict[str, Any]) -> list[dict[str, str]]:
    """One finding per missed target (none for met targets, or for phases an outage disturbed)."""
    hit = disturbed(results)
    found = []
    for target in targets(results):
        if target.met is False and target.name in EXPLAINERS:
            try:
                found.append({"target": target.name, "finding": EXPLAINERS[target.name](results)})
            except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError) as error:
                found.append({"target": target.name, "finding": f"(no analysis: {type(error).__name__} {error})"})
    if hit:
        found.append({"target": "run", "finding": f"disturbed phases (no verdict): {', '.join(hit)}"})
    return found
