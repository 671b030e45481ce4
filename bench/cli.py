"""``make bench`` / ``uv run python -m bench [--quick] [--profile]``.

Phases, in order, on one isolated vhost and database with every process started fresh:

1. the machine, and the broker's physical reference (before Herald starts, on a quiet broker);
   the Celery peer's burst (:mod:`bench.peer`, its own program in its own virtual environment, also before Herald);
2. Herald starts (services + sandboxes as processes); accounts are connected through the OAuth flow; idle RSS;
3. audit ingest, 4. precision (100 posts/s, then 300 posts/s), 5. burst, 6. media (an image burst beside a text
   burst), 7. scale, 8. scheduling through the API (see each module in :mod:`bench.phases`);
9. a whole-run check that nothing was lost or published twice.

``--phases a,b`` runs only some phases (the broker reference and the peer are phases too): Herald starts only if
one of its phases is chosen, and accounts are connected only for the phases that schedule posts. Such a partial run
writes its own results file and leaves ``latest.json`` alone.

Results: a table on stdout, ``bench/results/<timestamp>.json`` and ``bench/results/latest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import traceback
import uuid
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench import findings, machine, peer, report
from bench.accounts import connect_all
from bench.client import HeraldApi
from bench.database import TERMINAL, Database
from bench.disturbance import Sentinel
from bench.harness import PHASES, Harness, Options, say
from bench.phases import audit_ingest, burst, media, precision, scale, scheduling
from bench.resources import Monitor
from bench.stack import ROOT, Stack, processes
from herald.contracts.platform import Platform
from tests.conftest import DEFAULT_AMQP_URL, DEFAULT_DATABASE_URL, isolated_database, isolated_vhost

RESULTS = ROOT / "bench" / "results"
IDLE_SETTLE_SECONDS = 5
SCHEDULING_PHASES = frozenset({"precision", "burst", "media", "scale", "scheduling"})
"""The phases that schedule posts (they need connected accounts)."""
RELEASING_PHASES = frozenset({"precision", "burst", "media", "scale"})
"""The phases whose posts become due (the whole-run check follows them)."""
HERALD_PHASES = frozenset(PHASES) - {"reference", "peer"}


def phase_list(text: str) -> frozenset[str]:
    """``--phases a,b``: a comma-separated subset of :data:`PHASES`."""
    chosen = frozenset(name.strip() for name in text.split(",") if name.strip())
    unknown = chosen - frozenset(PHASES)
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose among {', '.join(PHASES)} (got {text!r})")
    return chosen


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short smoke run (smaller sizes, shorter durations)")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy profiles (burst: every service; scheduling: scheduler, client)"
    )
    parser.add_argument(
        "--phases",
        type=phase_list,
        default=frozenset(PHASES),
        help=f"comma-separated subset of {', '.join(PHASES)} (default: all)",
    )
    parser.add_argument(
        "--peer",
        type=Path,
        default=None,
        help=f"the Celery peer's folder (default ${peer.ENV_VAR}, else ../shared/peer-bench next to the repository)",
    )
    parser.add_argument(
        "--peer-venv-root",
        type=Path,
        default=None,
        help="where the peer's virtual environment is created and kept (default ~/.cache/herald-bench)",
    )
    parser.add_argument("--log-level", default="INFO", help="HERALD_LOG_LEVEL of the services (default INFO)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="measure nothing: recompute the verdicts and findings of a results file, rewrite them, print the table",
    )
    parser.add_argument("--amqp-url", default=os.environ.get("HERALD_TEST_AMQP_URL", DEFAULT_AMQP_URL))
    parser.add_argument("--database-url", default=os.environ.get("HERALD_TEST_DATABASE_URL", DEFAULT_DATABASE_URL))
    return parser.parse_args(argv)


def management(amqp_url: str) -> tuple[str, tuple[str, str]]:
    parts = urlsplit(amqp_url)
    port = os.environ.get("HERALD_TEST_RABBIT_MGMT_PORT", "15672")
    return f"http://{parts.hostname}:{port}", (parts.username or "guest", parts.password or "guest")


def reference(amqp_url: str, count: int) -> dict[str, Any]:
    """The raw broker rates, measured in a subprocess per event loop."""
    found = {}
    for loop in ("asyncio", "uvloop"):
        out = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "bench.reference", amqp_url, "--count", str(count), "--loop", loop],
            capture_output=True,
            check=True,
            text=True,
            cwd=ROOT,
            timeout=600,
        )
        found[loop] = json.loads(out.stdout.strip().splitlines()[-1])
        say(f"reference ({loop}): {found[loop]}")
    return found


async def verify(h: Harness, scheduled: int) -> dict[str, Any]:
    """Across the run: every distribution the phases released is final, and no post exists twice on a platform
    (the same account and text twice; every benchmark post has its own text)."""
    team = uuid.UUID(h.api.team_id)
    sql = "SELECT status, count(*) FROM scheduler.distributions WHERE team_id = $1 AND scheduled_at < $2 GROUP BY 1"
    horizon = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)  # leaves out the far-future scale and calibration rows
    rows = await h.db.retrying(lambda conn: conn.fetch(sql, team, horizon))
    statuses = {str(r[0]): int(r[1]) for r in rows}
    posts: Counter[tuple[str, str]] = Counter()
    async with httpx.AsyncClient(timeout=120) as client:
        for platform in Platform:
            for post in (await client.get(f"{h.stack.sandbox(platform)}/_sandbox/posts")).json():
                posts[(f"{platform.value}:{post.get('account')}", str(post.get("text")))] += 1
    return {
        "distributions_released": scheduled,
        "final_states": statuses,
        "not_final": sum(n for s, n in statuses.items() if s not in TERMINAL),
        "posts_on_sandboxes": sum(posts.values()),
        "posts_published_twice": sum(n - 1 for n in posts.values() if n > 1),
        # Which ones, so a duplicate can be traced (the run's database and sandboxes are gone afterwards).
        "twice": [{"account": a, "text": t, "posts": n} for (a, t), n in posts.items() if n > 1][:20],
    }


async def prepare(h: Harness, results: dict[str, Any], phases: frozenset[str]) -> None:
    """Accounts through the OAuth flow and a schedule-rate calibration (if a phase schedules posts), then idle RSS
    once everything is quiet."""
    if phases & SCHEDULING_PHASES:
        h.accounts = await connect_all(h.api, h.db, h.options.accounts_per_platform, h.run_id)
        say(f"{len(h.accounts)} accounts connected")
        results["accounts"] = {p.value: sum(a.platform is p for a in h.accounts) for p in Platform}
        results["calibration"] = (await h.calibrate()).as_json()
    await asyncio.sleep(IDLE_SETTLE_SECONDS)
    samples = []
    for _ in range(3):
        samples.append(h.monitor.rss_mib())
        await asyncio.sleep(1)
    idle = {name: round(sum(s[name] for s in samples) / len(samples), 1) for name in samples[0]}
    results["memory"] = {"idle_rss_mib": idle}


async def measure(h: Harness, sentinel: Sentinel, results: dict[str, Any], phases: frozenset[str]) -> None:
    """The chosen phases, each watched for broker or database restarts, then the whole-run check."""
    o = h.options
    released = 0
    if "audit_ingest" in phases:
        results["audit_ingest"] = await sentinel.watch(audit_ingest.run(h, o.audit_events))
    # Each phase that releases posts is followed by a vacuum of the database (Harness.vacuum: what autovacuum
    # does in a deployment), recorded in that phase's results as "vacuum_after".
    if "precision" in phases:
        results["precision"] = await sentinel.watch(precision.run(h, o.precision_rate, o.precision_seconds))
        posts = o.precision_rate * o.precision_seconds
        results["precision"]["vacuum_after"] = await h.vacuum("precision", posts)
        released += posts
        # The same at the faster pace the issue also sets a goal for (seeded and released like the first).
        fast = precision.run(h, o.precision_fast_rate, o.precision_fast_seconds, tag="precision-fast")
        results["precision_fast"] = await sentinel.watch(fast)
        posts = o.precision_fast_rate * o.precision_fast_seconds
        results["precision_fast"]["vacuum_after"] = await h.vacuum("precision-fast", posts)
        released += posts
    if "burst" in phases:
        profile_dir = Path(tempfile.mkdtemp(prefix="herald-bench-profile-")) if o.profile else None
        results["burst"] = await sentinel.watch(burst.run(h, o.burst_size, profile_dir))
        burst.add_vacuum(results["burst"], await h.vacuum("burst", o.burst_size))
        released += o.burst_size
    if "media" in phases:
        results["media"] = await sentinel.watch(
            media.run(h, o.media_image_posts, o.media_text_posts, o.media_image_bytes)
        )
        posts = o.media_image_posts + 2 * o.media_text_posts
        results["media"]["vacuum_after"] = await h.vacuum("media", posts)
        released += posts
    if "scale" in phases:
        results["scale"] = await sentinel.watch(scale.run(h, o.scale_sizes, o.probe_rate, o.probe_seconds))
        posts = len(o.scale_sizes) * o.probe_rate * o.probe_seconds
        results["scale"]["vacuum_after"] = await h.vacuum("scale", posts)
        released += posts
    if "scheduling" in phases:  # last: its distributions are never due, but their events load the audit service
        profile_dir = Path(tempfile.mkdtemp(prefix="herald-bench-profile-")) if o.profile else None
        results["scheduling"] = await sentinel.watch(
            scheduling.run(h, o.scheduling_calls, o.scheduling_bulk_requests, profile_dir)
        )
    if phases & RELEASING_PHASES:
        results["verification"] = await verify(h, released)


def peer_phase(args: argparse.Namespace, options: Options, stack: Stack) -> dict[str, Any]:
    """The Celery peer's burst of the same size as Herald's, on this run's vhost and database."""
    return peer.run(
        peer.locate(args.peer),
        args.peer_venv_root or peer.default_venv_root(),
        amqp_url=stack.amqp_url,
        database_url=stack.database_url,
        posts=options.burst_size,
        runs=1 if options.quick else 3,
    )


async def run(options: Options, stack: Stack, run_id: str, results: dict[str, Any], args: argparse.Namespace) -> None:
    log_level, phases = args.log_level, args.phases
    mgmt_url, auth = management(stack.amqp_url)
    results["machine"] = await machine.describe(stack.database_url, mgmt_url, auth)
    say(f"machine: {results['machine']}")
    if "reference" in phases:
        results["reference"] = reference(stack.amqp_url, options.reference_count)  # before Herald: a quiet broker
    if "peer" in phases:
        results["peer"] = peer_phase(args, options, stack)  # before Herald too: the peer gets a quiet machine
    if not phases & HERALD_PHASES:
        return

    entries = processes(stack, pages=options.accounts_per_platform, service_env={"HERALD_LOG_LEVEL": log_level})
    say(f"starting {len(entries)} processes (logs in {stack.logs})")
    stack.start(entries)
    async with AsyncExitStack() as resources:
        resources.callback(stack.stop)
        await stack.wait_ready()
        api = await HeraldApi.for_new_team(stack, connections=options.concurrency)
        resources.push_async_callback(api.close)
        db = await Database.open(stack.database_url)
        resources.push_async_callback(db.close)
        h = Harness(options, stack, api, db, Monitor(stack.pids()), run_id)
        await prepare(h, results, phases)
        sentinel = Sentinel(stack.amqp_url, db)
        resources.push_async_callback(sentinel.close)
        await measure(h, sentinel, results, phases)
        say("stopping Herald")


def write(results: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = results["started_at"].replace(":", "").replace("-", "")[:15]
    partial = set(results["options"].get("phases", PHASES)) != set(PHASES)
    path = directory / f"{stamp}{'-quick' if results['mode'] == 'quick' else ''}{'-partial' if partial else ''}.json"
    text = json.dumps(results, indent=2, default=str)
    path.write_text(text + "\n")
    if not partial:  # latest.json is the last run of every phase (the README's figures come from one)
        (directory / "latest.json").write_text(text + "\n")
    return path


def revision() -> dict[str, Any]:
    """The commit measured, and whether the working tree had changes outside bench/ (they were measured too)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607 - git from PATH, like make
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", ".", ":!bench", ":!tests/bench"],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown"}
    return {"commit": commit, "uncommitted_changes": [line[3:] for line in status.splitlines()]}


def analyse(results: dict[str, Any]) -> None:
    results["targets"] = [t.as_json() for t in report.targets(results)]
    results["findings"] = findings.explain(results)


def render_file(path: Path) -> int:
    """Re-analyse a results file (after the analysis code changed); the measurements are left as they were."""
    results = json.loads(path.read_text())
    analyse(results)
    results["analysed_at"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = json.dumps(results, indent=2, default=str) + "\n"
    path.write_text(text)
    latest = path.parent / "latest.json"
    if latest != path and latest.exists() and json.loads(latest.read_text()).get("run_id") == results.get("run_id"):
        latest.write_text(text)
    print(report.render(results))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.render:
        return render_file(args.render)
    chosen = tuple(p for p in PHASES if p in args.phases)
    options = (
        Options.quick_run(profile=args.profile, phases=chosen)
        if args.quick
        else Options(profile=args.profile, phases=chosen)
    )
    run_id = uuid.uuid4().hex[:8]
    started = dt.datetime.now(dt.UTC)
    results: dict[str, Any] = {
        "schema": 1,
        "run_id": run_id,
        "mode": "quick" if options.quick else "full",
        "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "options": dataclasses.asdict(options),
        "service_log_level": args.log_level,
        "phases": [name for name in PHASES if name in args.phases],
        "revision": revision(),
        "complete": False,
    }
    logs = Path(tempfile.mkdtemp(prefix="herald-bench-logs-"))
    code = 0
    try:
        with (
            isolated_vhost(args.amqp_url, f"herald-bench-{run_id}") as amqp_url,
            isolated_database(args.database_url, f"herald_bench_{run_id}") as database_url,
        ):
            stack = Stack(amqp_url, database_url, logs)
            asyncio.run(run(options, stack, run_id, results, args))
        results["complete"] = True
    except Exception as error:  # keep what was measured, say what broke, exit non-zero
        results["error"] = f"{type(error).__name__}: {error}"
        traceback.print_exc()
        code = 1
    results["finished_at"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    results["logs"] = str(logs)
    analyse(results)
    path = write(results, args.results)
    print(report.render(results))
    print(f"\nresults: {path}; service logs: {logs}")
    return code
