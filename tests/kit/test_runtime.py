"""A kit-based service as a real process: operational endpoints, JSON logs and graceful SIGTERM."""

import asyncio
import json
import signal
import uuid
from pathlib import Path

import aio_pika
import httpx
import pytest

from herald.contracts import ContentApproved, service_source
from herald.contracts.generate import DEFAULT_ROOT
from herald.kit.runtime import ServiceRuntime
from herald.kit.settings import ServiceSettings
from herald.operator.local import Process
from herald.operator.local_starter import LocalStarter
from tests.support.eventually import PROCESS_READY_SECONDS, eventually, immediately

CONTRACT_SCHEMAS = DEFAULT_ROOT / "schemas"


@pytest.mark.parametrize("consumer", ["faststream", "kit"])
async def test_sigterm_finishes_or_requeues_in_flight_messages(amqp_url: str, tmp_path: Path, consumer: str) -> None:
    """Either way a service reads a queue (a FastStream subscriber, or the kit's aiormq consumer as the publishers
    do), SIGTERM lets the messages in their handlers finish and leaves the rest in the queue."""
    queue_name = f"kit-sample-{uuid.uuid4().hex[:6]}"
    out = tmp_path / "processed.txt"
    env = {
        "HERALD_AMQP_URL": amqp_url,
        "HERALD_GRACEFUL_TIMEOUT_SECONDS": "5",
        "SAMPLE_QUEUE": queue_name,
        "SAMPLE_OUT": str(out),
        "SAMPLE_DELAY": "0.3",
        "SAMPLE_CONSUMER": consumer,
    }
    starter = LocalStarter(logs=tmp_path)
    sample = starter.add(Process("sample", starter.reserve_port(), "tests.kit.sample_service", env=env))
    url = sample.url
    try:
        starter.start_all()
        await starter.wait_ready(within=PROCESS_READY_SECONDS)
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{url}/healthz")).json() == {"status": "ok"}
            ready = (await client.get(f"{url}/readyz")).json()
            if consumer == "kit":
                assert ready["checks"] == {"broker": True, "consumer": True}
            else:
                assert ready["checks"] == {"broker": True}
                assert "faststream_received_messages_total" in (await client.get(f"{url}/metrics")).text

        connection = await aio_pika.connect_robust(amqp_url)
        channel = await connection.channel()
        ids = [f"m{i}" for i in range(20)]
        for message_id in ids:
            await channel.default_exchange.publish(
                aio_pika.Message(b"{}", message_id=message_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=queue_name,
            )
        await eventually(immediately(lambda: out.exists() and out.read_text().strip()), what="a message processed")
        returncode = await asyncio.to_thread(starter.terminate, "sample", 20)
        # uvicorn re-raises the captured SIGTERM after its graceful shutdown, so the exit status says "terminated".
        assert returncode in (0, -signal.SIGTERM)

        processed = out.read_text().split()
        queue = await channel.declare_queue(queue_name, durable=True, passive=True)
        left = []
        while (message := await queue.get(fail=False)) is not None:
            left.append(message.message_id or "")
            await message.ack()
        await connection.close()
    finally:
        starter.stop()
    # Nothing lost: every message was either finished before exit or is back in the queue; none was finished twice.
    assert sorted(processed + left) == sorted(ids)
    assert len(set(processed)) == len(processed)
    assert 0 < len(processed) < len(ids)
    output = starter.output("sample", tail=1_000_000)
    log_lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any(entry["message"] == "service stopped" for entry in log_lines)
    [started] = [entry for entry in log_lines if entry["message"] == "service started"]
    assert started["event_loop"] == "uvloop"
    assert started["gc_threshold"][0] == ServiceSettings.model_fields["gc_young_threshold"].default == 20_000
    assert started["amqp_writes"] == "coalesced"
    assert all(entry["service"] == "sample" for entry in log_lines)


def test_events_carry_the_contract_source() -> None:
    """Services publish with ``/herald/<service>`` as CloudEvents source, as the contracts README and AsyncAPI say."""
    runtime = ServiceRuntime(ServiceSettings(service_name="kit-sample"))  # builds, connects nothing
    example = CONTRACT_SCHEMAS / ContentApproved.ce_type().removesuffix(".v1") / "v1.example.json"
    event = ContentApproved.model_validate_json(example.read_text())
    assert runtime.events.envelope(event).headers["cloudEvents_source"] == service_source("kit-sample")
    assert service_source("kit-sample") == "/herald/kit-sample"
