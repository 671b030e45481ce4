"""Run a local Prometheus against the processes ``make run`` started (when the ``prometheus`` binary is installed).

::

    python -m herald.operator.local_prometheus --target scheduler=127.0.0.1:8001 ... \\
        --rules deploy/prometheus/rules --data run/prometheus [--port 9090] [--rabbitmq 127.0.0.1:15692]

Writes a configuration with the jobs ``deploy/prometheus/prometheus.yml`` has (``herald`` with a ``service`` label
per target, ``rabbitmq`` and ``rabbitmq-queues``), so the alert rules and the Grafana dashboard's queries work
unchanged, then replaces itself with ``prometheus`` (which then gets the runner's SIGTERM directly).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RABBITMQ_QUEUE_FAMILIES = ["queue_coarse_metrics", "queue_consumer_count"]


def config(targets: dict[str, str], rules: Path, rabbitmq: str | None, scrape_interval: str = "15s") -> dict[str, Any]:
    """The Prometheus configuration for ``targets`` (service name -> host:port)."""
    jobs: list[dict[str, Any]] = [
        {
            "job_name": "herald",
            "metrics_path": "/metrics",
            "static_configs": [
                {"targets": [address], "labels": {"service": name}} for name, address in targets.items()
            ],
        }
    ]
    if rabbitmq:
        jobs.append({"job_name": "rabbitmq", "metrics_path": "/metrics", "static_configs": [{"targets": [rabbitmq]}]})
        jobs.append(
            {
                "job_name": "rabbitmq-queues",
                "metrics_path": "/metrics/detailed",
                "params": {"family": RABBITMQ_QUEUE_FAMILIES},
                "static_configs": [{"targets": [rabbitmq]}],
            }
        )
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": [str(rules.resolve() / "*.yml")],
        "scrape_configs": jobs,
    }


def _target(value: str) -> tuple[str, str]:
    name, sep, address = value.partition("=")
    if not sep or not name or ":" not in address:
        raise argparse.ArgumentTypeError(f"expected NAME=HOST:PORT, got {value!r}")
    return name, address


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m herald.operator.local_prometheus", description=__doc__)
    p.add_argument("--target", type=_target, action="append", default=[], required=True, metavar="NAME=HOST:PORT")
    p.add_argument("--rules", type=Path, required=True, help="directory of rule files (deploy/prometheus/rules)")
    p.add_argument("--data", type=Path, required=True, help="where the configuration and the TSDB go")
    p.add_argument("--port", type=int, default=9090)
    p.add_argument("--rabbitmq", default="127.0.0.1:15692", help="RabbitMQ prometheus plugin; '' to skip")
    p.add_argument("--scrape-interval", default="15s")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    binary = shutil.which("prometheus")
    if binary is None:
        raise SystemExit("prometheus is not installed (Debian: apt-get install prometheus)")
    args.data.mkdir(parents=True, exist_ok=True)
    path = args.data / "prometheus.yml"
    # JSON is YAML: no YAML library is needed to write it.
    path.write_text(json.dumps(config(dict(args.target), args.rules, args.rabbitmq or None, args.scrape_interval)))
    os.execv(  # noqa: S606 - the local prometheus binary, with arguments we built
        binary,
        [
            binary,
            f"--config.file={path}",
            f"--storage.tsdb.path={args.data / 'data'}",
            f"--web.listen-address=127.0.0.1:{args.port}",
            "--storage.tsdb.retention.time=2d",
        ],
    )


if __name__ == "__main__":
    main(sys.argv[1:])
