"""Composition root of the audit service: ``build(settings)`` wires everything, ``main()`` serves it."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from herald.audit.api import audit_router
from herald.audit.ingest import AuditIngest, RecordWriter, WritePolicy
from herald.audit.metrics import AuditMetrics
from herald.audit.repository import AuditRepository
from herald.audit.service import AuditQueries, PartitionMaintenance
from herald.audit.settings import AuditSettings
from herald.contracts.routing import AUDIT_BINDING
from herald.kit import db
from herald.kit.batch import BatchWindow
from herald.kit.consumers import Intake, declare_work_queue
from herald.kit.runtime import ServiceRuntime
from herald.kit.settings import load_settings

SCHEMA = "audit"
MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: AuditSettings) -> tuple[ServiceRuntime, FastAPI]:
    """The runtime and the app of one audit service instance (no I/O happens until the app starts)."""
    runtime = ServiceRuntime(settings, schema=SCHEMA, migrations=MIGRATIONS, public_api=True)
    broker, events, engine, api_keys = runtime.broker, runtime.events, runtime.engine, runtime.api_keys
    metrics = AuditMetrics(runtime.registry)
    # The ingest writes one batch at a time: two connections cover it and a batch's partition check on the engine.
    insert_pool = db.SchemaPool(settings, SCHEMA, size=2)
    repository = AuditRepository(engine, insert_pool)
    writer = RecordWriter(
        repository,
        metrics,
        WritePolicy(
            write_timeout=settings.write_timeout_seconds,
            retry_initial=settings.retry_initial_seconds,
            retry_max=settings.retry_max_seconds,
        ),
    )
    # The batch consumer reads and parks with the kit's intake checks; the intake itself watches what the broker
    # dead-letters on its own (delivery limit) and owns the parked-messages counter both report to.
    intake = Intake(
        broker, events, settings.queue_name, registry=runtime.registry, delivery_limit=settings.delivery_limit
    )
    intake.watch_dead_letters()
    ingest = AuditIngest(
        broker,
        events,
        writer,
        metrics,
        amqp_url=settings.amqp_url.get_secret_value(),
        queue=settings.queue_name,
        prefetch=settings.prefetch_count,
        window=BatchWindow(max_size=settings.batch_max_size, max_wait=settings.batch_max_wait_seconds),
        parked=intake.parked,
    )
    maintenance = PartitionMaintenance(
        repository,
        metrics,
        retention_months=settings.retention_months,
        ahead_months=settings.partitions_ahead_months,
        interval_seconds=settings.maintenance_interval_seconds,
    )

    async def declare_queue() -> None:
        await declare_work_queue(broker, settings.queue_name, [AUDIT_BINDING], delivery_limit=settings.delivery_limit)

    async def prepare_partitions() -> None:
        await maintenance.run_once()

    runtime.on_start(insert_pool.open)
    runtime.on_start(declare_queue)
    runtime.on_start(prepare_partitions)
    runtime.add_background(ingest.run)
    runtime.add_background(maintenance.run)
    runtime.on_stop(insert_pool.close)
    runtime.add_readiness_check("audit_writer", ingest.ready)
    queries = AuditQueries(repository, export_page_size=settings.export_page_size)
    app = runtime.create_app(
        "Herald audit",
        [audit_router(queries, api_keys, max_limit=settings.query_max_limit)],
        description="Every Herald event, recorded once in an append-only log; team-scoped queries and export.",
    )
    return runtime, app


def main() -> None:
    """Serve the audit service with settings from the environment (``HERALD_*``)."""
    settings = load_settings(AuditSettings)
    runtime, app = build(settings)
    runtime.serve(app)
