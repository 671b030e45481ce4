"""``make compose-test``: docker compose for real, on a machine without a registry (run by deploy/compose-test/run.sh,
which provides the Docker engine and Compose).

Steps, each timed:

1. the local base image (debootstrapped bookworm + python3, cached as a tarball outside the repository);
2. every Herald image of docker-compose.yml, with the shipped Dockerfile on that base;
3. local stand-ins for RabbitMQ, PostgreSQL and Prometheus from Debian's packages (compose.override.yml uses them);
4. ``docker compose up --wait``: every health check passes;
5. the user journey of ``make demo`` over the containers' public APIs: a team key, one account per platform through
   OAuth against the sandboxes, content scheduled on all three platforms with a transient X failure injected, each
   distribution published with its audit timeline; and the operator image's ``herald parked list``;
6. Prometheus scrapes every target and loaded the alert rules; Grafana's provisioning (which cannot run here) is
   checked against the compose file, and every dashboard query is evaluated by the live Prometheus;
7. a burst across the three platforms; publisher-x is SIGKILLed mid-burst, Docker restarts it, it becomes healthy
   again, and every distribution is published with its post on the sandbox exactly once;
8. ``docker compose down -v`` (always, even after a failure; logs are kept in run/compose-test/).

Then image sizes and step timings are printed (and written to run/compose-test/report.json). Exit status 0 only
when every check passed; any failure, environmental or not, exits non-zero.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LOGS = ROOT / "run" / "compose-test"
PROJECT = "herald-compose-test"
COMPOSE_FILES = (ROOT / "docker-compose.yml", HERE / "compose.override.yml")
BOOTSTRAP_SECRET = "dev-bootstrap-secret"  # the compose file's development value
PLATFORMS = ("x", "linkedin", "meta")
TERMINAL = {"published", "failed", "unconfirmed", "cancelled", "missed"}
T = TypeVar("T")


def host_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


# Host ports of compose.override.yml.
SCHEDULER, TOKENS, AUDIT = host_url(26001), host_url(26002), host_url(26003)
SANDBOX = {"x": host_url(26101), "linkedin": host_url(26102), "meta": host_url(26103)}
PROMETHEUS = host_url(26090)
SPREAD_SECONDS = 15.0  # the burst's posts fall due over this window


class CheckFailed(Exception):
    """A check of the compose test did not hold."""


@dataclass
class Report:
    steps: list[tuple[str, float, str]] = field(default_factory=list)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    images: dict[str, int] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str) -> Iterator[list[str]]:
        """Time a step; the yielded list collects a short note for the table."""
        print(f"\n== {name}", flush=True)
        note: list[str] = []
        began = time.monotonic()
        try:
            yield note
        finally:
            seconds = time.monotonic() - began
            self.steps.append((name, seconds, "; ".join(note)))
            print(f"   ({seconds:.1f} s)", flush=True)

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append((name, ok, detail))
        print(f"   {'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
        if not ok:
            raise CheckFailed(f"{name}: {detail}")

    def render(self) -> str:
        lines = ["", "Step timings", f"  {'step':<72} {'seconds':>8}  note"]
        lines += [f"  {name:<72} {seconds:>8.1f}  {note}" for name, seconds, note in self.steps]
        lines.append(f"  {'total':<72} {sum(s for _, s, _ in self.steps):>8.1f}")
        lines += ["", "Image sizes", f"  {'image':<40} {'MB':>8}"]
        lines += [f"  {image:<40} {size / 1e6:>8.1f}" for image, size in sorted(self.images.items())]
        passed = sum(ok for _, ok, _ in self.checks)
        lines += ["", f"compose-test: {passed} passed, {len(self.checks) - passed} failed"]
        return "\n".join(lines)


# -- commands ---------------------------------------------------------------------------------------------------------


def run(argv: list[str], *, log: Path | None = None, timeout: float = 1800, check: bool = True) -> str:
    """Run a command; its output goes to ``log`` (shown in part on failure) or is returned."""
    env = {**os.environ, "DOCKER_BUILDKIT": "1", "COMPOSE_PROJECT_NAME": PROJECT}
    result = subprocess.run(  # noqa: S603  # fixed argv built here, no shell
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = result.stdout + result.stderr
    if log is not None:
        log.write_text(output)
    if check and result.returncode != 0:
        tail = "\n".join(output.splitlines()[-30:])
        where = f" (full output: {log})" if log else ""
        raise CheckFailed(f"`{' '.join(argv)}` exited {result.returncode}{where}:\n{tail}")
    return result.stdout


def compose(*args: str) -> list[str]:
    files = [arg for path in COMPOSE_FILES for arg in ("-f", str(path))]
    return [os.environ.get("COMPOSE", "docker-compose"), "-p", PROJECT, *files, "--profile", "sandboxes", *args]


def eventually(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.5) -> T:
    """``probe()`` until it returns something other than None (exceptions count as not yet)."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        try:
            found = probe()
            if found is not None:
                return found
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            last = f" (last: {exc!r})"
        if time.monotonic() > deadline:
            raise CheckFailed(f"{what}: not within {timeout:.0f} s{last}")
        time.sleep(interval)


# -- 1-3: images ------------------------------------------------------------------------------------------------------


def herald_images() -> dict[str, dict[str, str]]:
    """image tag -> build args, for every service docker-compose.yml builds (the sandboxes share one image)."""
    shipped = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    images: dict[str, dict[str, str]] = {}
    for service in shipped["services"].values():
        if "build" in service:
            images[service["image"]] = {k: str(v) for k, v in service["build"]["args"].items()}
    return images


def standin_images() -> dict[str, str]:
    """image tag -> stand-in Dockerfile target, for the third-party services the override replaces."""
    override = yaml.load((HERE / "compose.override.yml").read_text(), Loader=OverrideLoader)  # noqa: S506  # a SafeLoader
    return {
        s["image"]: name
        for name, s in override["services"].items()
        if str(s.get("image", "")).startswith("herald-local/")
    }


class OverrideLoader(yaml.SafeLoader):
    """Reads compose's ``!override`` / ``!reset`` tags as plain values."""


def _plain(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


OverrideLoader.add_constructor("!override", _plain)
OverrideLoader.add_constructor("!reset", _plain)


def build_images(report: Report, base: str) -> None:
    with report.step("1. local base image (debootstrap bookworm + python3, docker import)") as note:
        cache = os.environ.get("HERALD_COMPOSE_CACHE", "/var/cache/herald-compose-test")
        cached = Path(cache, "bookworm-python3.tar.gz").exists()
        present = run(["docker", "image", "ls", "-q", base]).strip() != ""
        run(["bash", str(HERE / "base-image.sh"), base], log=LOGS / "base-image.log")
        note.append("image present" if present else "imported from cached tarball" if cached else "debootstrapped")
    for image, args in herald_images().items():
        with report.step(f"2. build {image}") as note:
            argv = ["docker", "build", "--network", "host", "--build-arg", f"PYTHON_IMAGE={base}"]
            argv += [a for k, v in args.items() for a in ("--build-arg", f"{k}={v}")]
            run([*argv, "-t", image, "-f", "Dockerfile", "."], log=LOGS / f"build-{image.replace('/', '_')}.log")
            note.append(f"SERVICE={args['SERVICE']}")
    for image, target in standin_images().items():
        with report.step(f"3. build stand-in {image}") as note:
            argv = ["docker", "build", "--network", "host", "--build-arg", f"BASE={base}", "--target", target]
            run([*argv, "-t", image, str(HERE / "standins")], log=LOGS / f"build-{target}.log")
            note.append("from Debian's packages")


# -- 5: the journey ---------------------------------------------------------------------------------------------------


def ready(url: str) -> bool | None:
    return True if httpx.get(f"{url}/readyz", timeout=3).status_code == 200 else None


def connect(client: httpx.Client, platform: str) -> dict[str, Any]:
    start = client.post(f"{TOKENS}/v1/accounts/connect/{platform}", json={})
    start.raise_for_status()
    # The sandbox consents at once and redirects the "browser" (us) to the token service's callback.
    callback = httpx.get(start.json()["authorization_url"], follow_redirects=True, timeout=30)
    callback.raise_for_status()
    account: dict[str, Any] = callback.json()["accounts"][0]
    return account


def approved_content(client: httpx.Client, text: str) -> str:
    created = client.post(f"{SCHEDULER}/v1/contents", json={"title": text[:60], "text": text})
    created.raise_for_status()
    content_id = str(created.json()["content_id"])
    client.post(f"{SCHEDULER}/v1/contents/{content_id}/approve").raise_for_status()
    return content_id


def schedule(client: httpx.Client, content_id: str, platform: str, account_id: str, at: dt.datetime) -> str:
    body = {
        "content_id": content_id,
        "platform": platform,
        "account_id": account_id,
        "publish_at": at.isoformat(),
        "retry": {"max_attempts": 8, "base_delay_seconds": 1},
    }

    def attempt() -> str | None:
        response = client.post(f"{SCHEDULER}/v1/distributions", json=body)
        if response.status_code == 422 and "account" in response.text:
            return None  # the scheduler learns about a new account from an event: a moment later
        response.raise_for_status()
        return str(response.json()["distribution_id"])

    return eventually("the scheduler knows the account", attempt, timeout=30, interval=0.3)


def settle(client: httpx.Client, ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    final: dict[str, dict[str, Any]] = {}

    def probe() -> dict[str, dict[str, Any]] | None:
        for distribution_id in ids:
            if distribution_id not in final:
                found = client.get(f"{SCHEDULER}/v1/distributions/{distribution_id}").json()
                if found["status"] in TERMINAL:
                    final[distribution_id] = found
        return final if len(final) == len(ids) else None

    try:
        return eventually("every distribution reaches a final status", probe, timeout=timeout, interval=1.0)
    except CheckFailed as exc:
        raise CheckFailed(f"{exc}: {len(final)}/{len(ids)} final") from exc


def journey(report: Report) -> tuple[httpx.Client, dict[str, dict[str, Any]]]:
    with report.step("5. the user journey of make demo, against the containers") as note:
        for url in (SCHEDULER, TOKENS, AUDIT):
            eventually(f"{url}/readyz", partial(ready, url), timeout=60)
        created = httpx.post(
            f"{SCHEDULER}/v1/admin/api-keys",
            headers={"X-Herald-Bootstrap-Secret": BOOTSTRAP_SECRET},
            json={"name": "ct"},
        )
        created.raise_for_status()
        client = httpx.Client(timeout=30, headers={"Authorization": f"Bearer {created.json()['api_key']}"})
        accounts = {platform: connect(client, platform) for platform in PLATFORMS}
        report.check("an account connected on every platform through OAuth", len(accounts) == 3, ", ".join(accounts))
        content_id = approved_content(client, f"Hello from Herald's compose test {uuid.uuid4().hex[:8]}")
        at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
        ids = {p: schedule(client, content_id, p, str(a["id"]), at) for p, a in accounts.items()}
        httpx.post(
            f"{SANDBOX['x']}/_sandbox/faults", json={"kind": "error", "error": "service_unavailable", "count": 1}
        ).raise_for_status()
        final = settle(client, list(ids.values()), timeout=120)
        statuses = {p: final[i]["status"] for p, i in ids.items()}
        report.check(
            "the content is published on all three platforms", set(statuses.values()) == {"published"}, str(statuses)
        )
        x_attempts = [a["outcome"] for a in final[ids["x"]].get("attempts", [])]
        report.check("X's injected 503 was retried", len(x_attempts) >= 2, f"attempts {x_attempts}")
        for platform, distribution_id in ids.items():
            post_id = final[distribution_id].get("external_post_id")
            posts = httpx.get(f"{SANDBOX[platform]}/_sandbox/posts", timeout=10).json()
            on_sandbox = [p for p in posts if p["id"] == post_id]
            report.check(f"{platform}: the post Herald recorded is on the sandbox", len(on_sandbox) == 1, str(post_id))

        def timeline_complete(distribution_id: str) -> list[str] | None:
            items = client.get(f"{AUDIT}/v1/audit/distributions/{distribution_id}/timeline").json()["items"]
            actions = [item["action"] for item in items]
            return actions if "content_published" in actions else None

        for platform, distribution_id in ids.items():
            actions = eventually("the audit timeline", partial(timeline_complete, distribution_id), timeout=60)
            report.check(
                f"{platform}: the audit timeline ends published", "content_published" in actions, " > ".join(actions)
            )
        note.append("3 platforms, 1 injected X failure")
        return client, {p: accounts[p] for p in PLATFORMS}


def operator_tool(report: Report) -> None:
    with report.step("5b. the operator image: herald parked list") as note:
        out = run([*compose("--profile", "tools", "run", "--rm", "-T", "operator", "parked", "list")], timeout=180)
        queues = [line.split()[0] for line in out.splitlines()[1:] if line.strip()]
        report.check(
            "herald parked list sees every parking queue of the compose RabbitMQ",
            {"publisher.x.dead", "publisher.linkedin.dead", "publisher.meta.dead", "scheduler.dead"} <= set(queues),
            ", ".join(queues),
        )
        note.append("docker compose run --rm operator")


# -- 6: monitoring ----------------------------------------------------------------------------------------------------


def prometheus_query(expr: str) -> dict[str, Any]:
    response = httpx.get(f"{PROMETHEUS}/api/v1/query", params={"query": expr}, timeout=30)
    body: dict[str, Any] = response.json()
    return body


def monitoring(report: Report) -> None:
    with report.step("6. Prometheus scrapes every target; Grafana provisioning; dashboard queries") as note:
        shipped = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
        expected = sum(len(c["targets"]) for job in shipped["scrape_configs"] for c in job["static_configs"])

        def all_up() -> list[dict[str, Any]] | None:
            targets: list[dict[str, Any]] = httpx.get(f"{PROMETHEUS}/api/v1/targets", timeout=10).json()["data"][
                "activeTargets"
            ]
            return targets if len(targets) == expected and all(t["health"] == "up" for t in targets) else None

        try:
            targets = eventually("every scrape target up", all_up, timeout=120, interval=2)
        except CheckFailed:
            targets = httpx.get(f"{PROMETHEUS}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
            down = {t["scrapeUrl"]: t.get("lastError") for t in targets if t["health"] != "up"}
            report.check(f"Prometheus scrapes all {expected} targets", False, f"{len(targets)} targets, down: {down}")
        jobs = Counter(t["labels"]["job"] for t in targets)
        report.check(f"Prometheus scrapes all {expected} targets", True, str(dict(jobs)))
        rules = httpx.get(f"{PROMETHEUS}/api/v1/rules", timeout=10).json()["data"]["groups"]
        alerts = [r["name"] for g in rules for r in g["rules"] if r["type"] == "alerting"]
        report.check("the alert rules are loaded", len(alerts) > 0, f"{len(alerts)} alerting rules")
        herald_up = prometheus_query('up{job="herald"}')["data"]["result"]
        services = sorted(r["metric"].get("service", "?") for r in herald_up)
        labelled = sorted(
            c["labels"]["service"]
            for job in shipped["scrape_configs"]
            if job["job_name"] == "herald"
            for c in job["static_configs"]
        )
        report.check("every Herald service is labelled", services == labelled, ", ".join(services))
        grafana_provisioning(report, note)


def grafana_provisioning(report: Report, note: list[str]) -> None:
    """Grafana cannot run here (no package, no registry): check what it would load against what compose mounts and
    the live Prometheus."""
    shipped = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    grafana = shipped["services"]["grafana"]
    mounts = dict(v.removesuffix(":ro").split(":", 1) for v in grafana["volumes"])
    provisioning = ROOT / "deploy" / "grafana" / "provisioning"
    report.check(
        "compose mounts the provisioning where Grafana reads it",
        mounts.get("./deploy/grafana/provisioning") == "/etc/grafana/provisioning",
        str(mounts),
    )
    sources = [
        s
        for f in sorted((provisioning / "datasources").glob("*.yml"))
        for s in yaml.safe_load(f.read_text())["datasources"]
    ]
    uids = {s["uid"] for s in sources}
    for source in sources:
        # The URL as Grafana's container would call it, from a container on the same compose network.
        probe = f"import urllib.request; urllib.request.urlopen('{source['url']}/-/ready', timeout=5)"
        result = subprocess.run(  # noqa: S603
            compose("exec", "-T", "scheduler", "python", "-c", probe),
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        report.check(
            f"datasource {source['name']} answers at {source['url']} inside the network",
            result.returncode == 0,
            result.stderr[-200:],
        )
    providers = [
        p
        for f in sorted((provisioning / "dashboards").glob("*.yml"))
        for p in yaml.safe_load(f.read_text())["providers"]
    ]
    for provider in providers:
        path = provider["options"]["path"]
        source = next((host for host, target in mounts.items() if target == path), None)
        report.check(f"dashboard provider path {path} is mounted", source is not None, str(source))
        dashboards = sorted((ROOT / str(source)).glob("*.json"))
        report.check("the provider has dashboards", len(dashboards) > 0, ", ".join(d.name for d in dashboards))
        for dashboard_file in dashboards:
            dashboard_queries(report, note, json.loads(dashboard_file.read_text()), uids)


def dashboard_queries(report: Report, note: list[str], dashboard: dict[str, Any], uids: set[str]) -> None:
    panels = [p for p in dashboard["panels"] if p.get("type") != "row"]
    panels += [q for p in dashboard["panels"] for q in p.get("panels", [])]
    queries: list[tuple[str, str]] = []
    strangers = []
    for panel in panels:
        targets = [t for t in panel.get("targets", []) if t.get("expr")]
        if targets and panel.get("datasource", {}).get("uid") not in uids:  # panels without queries need none
            strangers.append(panel["title"])
        queries += [(panel["title"], t["expr"]) for t in targets]
    report.check(
        f"every query panel of {dashboard['title']!r} uses a provisioned datasource",
        not strangers,
        f"{len(panels)} panels" if not strangers else ", ".join(strangers),
    )
    errors, with_data = [], 0
    for title, expr in queries:
        # Grafana's interval variables, as Grafana would fill them in.
        concrete = re.sub(r"\$__(rate_interval|interval|range)", "5m", expr)
        body = prometheus_query(concrete)
        if body.get("status") != "success":
            errors.append(f"{title}: {body.get('error')}")
        elif body["data"]["result"]:
            with_data += 1
    report.check(
        f"dashboard {dashboard['title']!r}: every query evaluates on the live Prometheus", not errors, "; ".join(errors)
    )
    note.append(f"{len(queries)} dashboard queries evaluated, {with_data} with data")
    report.notes["dashboard_queries"] = {"queries": len(queries), "with_data": with_data}


# -- 7: a publisher killed mid-burst ----------------------------------------------------------------------------------


def container_state(service: str) -> dict[str, Any]:
    container = run(compose("ps", "-q", service)).strip()
    state: dict[str, Any] = json.loads(run(["docker", "inspect", container]))[0]
    return state


def burst_and_kill(report: Report, client: httpx.Client, accounts: dict[str, dict[str, Any]], size: int) -> None:
    with report.step(f"7. burst of {size} posts; publisher-x SIGKILLed mid-burst") as note:
        tag = uuid.uuid4().hex[:10]
        # Every other post goes to X, the rest alternate between LinkedIn and Meta; due one after another over
        # SPREAD_SECONDS, so the kill lands while some X posts are done, some in flight and some not yet due.
        plan = ["x" if i % 2 == 0 else ("linkedin" if i % 4 == 1 else "meta") for i in range(size)]
        texts = [f"Herald compose burst {tag} post {i} on {p}" for i, p in enumerate(plan)]
        contents = [approved_content(client, text) for text in texts]
        start = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=6 + size * 0.15)  # after the last one is scheduled
        due = [start + dt.timedelta(seconds=i * SPREAD_SECONDS / size) for i in range(size)]
        # Each X create is held by the sandbox for a while, so the kill lands with posts in flight.
        httpx.post(
            f"{SANDBOX['x']}/_sandbox/faults",
            json={"kind": "latency", "latency_ms": 1500, "count": plan.count("x")},
        ).raise_for_status()
        ids = [schedule(client, c, p, str(accounts[p]["id"]), at) for c, p, at in zip(contents, plan, due, strict=True)]
        text_of = dict(zip(ids, texts, strict=True))
        platform_of = dict(zip(ids, plan, strict=True))

        def burst_posts(platform: str) -> list[dict[str, Any]]:
            posts = httpx.get(f"{SANDBOX[platform]}/_sandbox/posts", timeout=10).json()
            return [p for p in posts if tag in p.get("text", "")]

        def some_x_posts() -> int | None:
            count = len(burst_posts("x"))
            return count if count >= 3 else None

        before = container_state("publisher-x")
        done_at_kill = eventually("the first X posts of the burst", some_x_posts, timeout=120, interval=0.1)
        os.kill(int(before["State"]["Pid"]), signal.SIGKILL)  # a crash: Docker's restart policy applies
        killed_at = time.monotonic()
        print(
            f"   SIGKILL publisher-x (pid {before['State']['Pid']}) with {done_at_kill}/{plan.count('x')} X posts done"
        )
        report.check("the kill landed mid-burst", done_at_kill < plan.count("x"), f"{done_at_kill}/{plan.count('x')}")

        def restarted() -> dict[str, Any] | None:
            state = container_state("publisher-x")
            health = state["State"].get("Health", {}).get("Status")
            return state if state["RestartCount"] > before["RestartCount"] and health == "healthy" else None

        after = eventually("publisher-x restarted and healthy", restarted, timeout=180, interval=1)
        back = time.monotonic() - killed_at
        report.check(
            "Docker restarted publisher-x and it is healthy",
            True,
            f"RestartCount {after['RestartCount']}, {back:.0f} s",
        )
        final = settle(client, ids, timeout=300)
        settled = time.monotonic() - killed_at
        statuses = Counter(d["status"] for d in final.values())
        report.check(
            f"all {size} distributions published", statuses == Counter({"published": size}), str(dict(statuses))
        )
        on_sandbox = {p: burst_posts(p) for p in PLATFORMS}
        counts = Counter(post["text"] for posts in on_sandbox.values() for post in posts)
        duplicates = {t: n for t, n in counts.items() if n > 1}
        lost = [i for i in ids if counts[text_of[i]] == 0]
        report.check("no post published twice", not duplicates, str(duplicates))
        report.check("no post lost", not lost, str(lost))
        wrong = []
        for distribution_id, detail in final.items():
            matches = [p for p in on_sandbox[platform_of[distribution_id]] if p["text"] == text_of[distribution_id]]
            if [p["id"] for p in matches] != [detail.get("external_post_id")]:
                wrong.append(distribution_id)
        report.check("each distribution recorded the id of its one post", not wrong, str(wrong))
        figures = {"posts": size, "x_done_at_kill": done_at_kill, "back_healthy_s": round(back, 1)}
        figures |= {"settled_s": round(settled, 1), "duplicates": len(duplicates), "lost": len(lost)}
        # Creates the X sandbox served in all (journey included): more than its posts means a re-send after a
        # read-back found nothing, which is allowed; the sandbox's posts above are what must not double.
        stats = httpx.get(f"{SANDBOX['x']}/_sandbox/stats", timeout=10).json()
        figures["x_create_calls"] = sum(stats.get("create_requests", {}).values())
        report.notes["kill"] = figures
        note.append(", ".join(f"{k}={v}" for k, v in figures.items()))


# -- main -------------------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-image", default="herald-local/bookworm-python:3.11")
    parser.add_argument("--burst", type=int, default=60, help="posts in the kill scenario (half of them on X)")
    parser.add_argument("--keep", action="store_true", help="leave the stack running (no docker compose down)")
    args = parser.parse_args()
    LOGS.mkdir(parents=True, exist_ok=True)
    report = Report()
    failure: str | None = None
    started = False
    try:
        run(compose("config", "--quiet"))  # both files parse, with this Compose
        # Whatever an interrupted earlier run left behind (containers, volumes) would make this one unreliable.
        run(compose("--profile", "tools", "down", "-v", "--remove-orphans", "--timeout", "10"), check=False)
        build_images(report, args.base_image)
        for image in [*herald_images(), *standin_images(), args.base_image]:
            report.images[image] = int(run(["docker", "image", "inspect", "-f", "{{.Size}}", image]).strip())
        with report.step("4. docker compose up --wait (every health check passes)") as note:
            started = True
            run(compose("up", "-d", "--no-build", "--wait", "--wait-timeout", "300"), log=LOGS / "up.log", timeout=600)
            wanted = set(run(compose("config", "--services")).split())
            running = dict(
                line.split(" ", 1) for line in run(compose("ps", "--format", "{{.Service}} {{.Status}}")).splitlines()
            )
            report.check(
                "every service of the stack is up",
                set(running) == wanted and all(s.startswith("Up") for s in running.values()),
                "; ".join(f"{k}: {v}" for k, v in sorted(running.items())),
            )
            note.append(f"{len(running)} containers")
        client, accounts = journey(report)
        operator_tool(report)
        monitoring(report)
        burst_and_kill(report, client, accounts, args.burst)
    except (CheckFailed, httpx.HTTPError, subprocess.TimeoutExpired, KeyError) as exc:
        failure = f"{type(exc).__name__}: {exc}"
        report.checks.append(("the run got to its end", False, failure))
    finally:
        if started:
            run(compose("logs", "--no-color", "--timestamps"), log=LOGS / "compose.log", check=False)
            if not args.keep:
                with report.step("8. docker compose down -v"):
                    run(compose("--profile", "tools", "down", "-v", "--remove-orphans", "--timeout", "30"), check=False)
    print(report.render())
    (LOGS / "report.json").write_text(
        json.dumps(
            {
                "steps": [{"step": n, "seconds": round(s, 1), "note": t} for n, s, t in report.steps],
                "images_bytes": report.images,
                "checks": [{"check": n, "ok": ok, "detail": d} for n, ok, d in report.checks],
                "notes": report.notes,
            },
            indent=2,
        )
    )
    if failure:
        print(f"\ncompose-test FAILED: {failure}\n(container logs: {LOGS / 'compose.log'})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
