"""The ``herald`` operator command.

::

    herald parked list                                   parking queues and how many messages each holds
    herald parked show QUEUE [--limit N] [--body]        parked messages with their reasons (left in place)
    herald parked replay QUEUE [--message-id ID ...] [--limit N] [--to QUEUE] [--note TEXT]
                                                         send them back to their work queue, audited
    herald parked purge QUEUE --yes [--message-id ID ...] [--note TEXT]
                                                         delete them for good (each recorded: MessagePurged)

``QUEUE`` is a parking queue (``publisher.x.dead``) or the work queue it belongs to (``publisher.x``). Add
``--json`` (before ``parked``) for machine-readable output. The broker comes from ``HERALD_AMQP_URL`` (the vhost is
the URL's path); parking queues are discovered through the management API (``HERALD_MANAGEMENT_URL``, default the
AMQP host on port 15672).

A replayed copy keeps the message's body, id and CloudEvents headers, and loses the ``herald-parked-*`` headers,
the broker's ``x-*`` headers and the publisher's ``herald-attempt`` counter: a replayed publish request starts
again at attempt 1 with all its attempts. Each replay publishes a ``MessageReplayed`` event, which the audit log
records. Exit status: 0 done, 1 something was left undone (see the output), 2 bad usage or unknown queue.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from herald.kit.broker import PublishNotConfirmed
from herald.kit.settings import load_settings
from herald.operator.messages import ParkedMessage, parking_queue_name
from herald.operator.parking import ParkingLot, QueueNotFound, ReplayReport
from herald.operator.settings import OperatorSettings

BODY_PREVIEW = 2000


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="herald", description="Herald operator tooling.")
    root.add_argument("--json", action="store_true", help="print JSON instead of text")
    # --json is accepted after the command too; SUPPRESS keeps a leaf from resetting the root's value.
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    groups = root.add_subparsers(dest="group", required=True)
    parked = groups.add_parser("parked", help="inspect, replay or purge parked messages")
    commands = parked.add_subparsers(dest="command", required=True)

    commands.add_parser("list", parents=[json_flag], help="parking queues and their message counts")

    show = commands.add_parser("show", parents=[json_flag], help="parked messages with their reasons (left in place)")
    show.add_argument("queue")
    show.add_argument("--limit", type=int, default=20)
    show.add_argument("--body", action="store_true", help="also print each message's body")

    replay = commands.add_parser("replay", parents=[json_flag], help="send parked messages back to their work queue")
    replay.add_argument("queue")
    replay.add_argument("--message-id", action="append", default=[], dest="message_ids", metavar="ID")
    replay.add_argument("--limit", type=int, default=None)
    replay.add_argument("--to", default=None, dest="target", metavar="QUEUE", help="default: the work queue")
    replay.add_argument("--note", default=None, help="why replaying should work now (recorded in the audit log)")

    purge = commands.add_parser("purge", parents=[json_flag], help="delete parked messages for good")
    purge.add_argument("queue")
    purge.add_argument("--message-id", action="append", default=[], dest="message_ids", metavar="ID")
    purge.add_argument("--yes", action="store_true", help="confirm: the messages cannot be recovered")
    purge.add_argument("--note", default=None, help="why they are not worth replaying (recorded in the audit log)")
    return root


class Output:
    """Prints results as text or JSON."""

    def __init__(self, stream: TextIO, as_json: bool) -> None:
        self._stream = stream
        self.as_json = as_json

    def json(self, value: Any) -> None:
        print(json.dumps(value, indent=2, default=str), file=self._stream)

    def line(self, text: str = "") -> None:
        print(text, file=self._stream)


async def run(argv: Sequence[str], settings: OperatorSettings, stream: TextIO = sys.stdout) -> int:
    """Run one command; returns the exit status."""
    args = parser().parse_args(argv)
    out = Output(stream, args.json)
    if args.command == "purge" and not args.yes:
        out.line("refusing to purge without --yes: purged messages cannot be recovered")
        return 2
    try:
        async with ParkingLot.open(settings) as lot:
            match args.command:
                case "list":
                    return await _list(lot, out)
                case "show":
                    return await _show(lot, out, parking_queue_name(args.queue), args.limit, args.body)
                case "replay":
                    note = args.note or f"replayed by {_operator()}"
                    report = await lot.replay(
                        parking_queue_name(args.queue),
                        message_ids=args.message_ids,
                        limit=args.limit,
                        target=args.target,
                        note=note,
                    )
                    return _replayed(out, report)
                case _:
                    note = args.note or f"purged by {_operator()}"
                    removed = await lot.purge(parking_queue_name(args.queue), args.message_ids, note)
                    return _purged(out, removed, args.message_ids)
    except QueueNotFound as exc:
        out.line(f"herald: {exc}")
        return 2
    except PublishNotConfirmed as exc:
        out.line(f"herald: stopped: a purge could not be recorded for the audit log, the rest stays parked ({exc})")
        return 1


async def _list(lot: ParkingLot, out: Output) -> int:
    queues = await lot.parking_queues()
    if out.as_json:
        out.json([{"queue": q.name, "work_queue": q.work_queue, "messages": q.messages} for q in queues])
        return 0
    width = max((len(q.name) for q in queues), default=5)
    out.line(f"{'QUEUE':<{width}}  MESSAGES")
    for queue in queues:
        out.line(f"{queue.name:<{width}}  {queue.messages}")
    return 0


async def _show(lot: ParkingLot, out: Output, queue: str, limit: int, body: bool) -> int:
    messages = await lot.browse(queue, limit)
    if out.as_json:
        out.json([_as_json(m, body) for m in messages])
        return 0
    out.line(f"{queue}: showing {len(messages)} message(s), oldest first")
    for index, message in enumerate(messages, 1):
        out.line()
        out.line(f"[{index}] {message.message_id or '(no message id)'}  {message.event_type or '(no type)'}")
        for key, value in message.summary().items():
            if key not in {"message_id", "type"} and value is not None:
                out.line(f"    {key:<15} {value}")
        if body:
            out.line(f"    body            {message.body[:BODY_PREVIEW].decode(errors='replace')}")
    return 0


def _purged(out: Output, removed: list[str | None], asked: list[str]) -> int:
    not_found = sorted(set(asked) - set(removed))
    if out.as_json:
        out.json({"purged": len(removed), "not_found": not_found})
    else:
        out.line(f"purged {len(removed)} message(s)")
        for message_id in not_found:
            out.line(f"  not parked (already replayed or purged?) {message_id}")
    return 1 if not_found else 0


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        return "an operator"


def _as_json(message: ParkedMessage, body: bool) -> dict[str, Any]:
    data = message.summary()
    if body:
        data["body"] = message.body[:BODY_PREVIEW].decode(errors="replace")
    return data


def _replayed(out: Output, report: ReplayReport) -> int:
    if out.as_json:
        out.json(
            {
                "parking_queue": report.parking_queue,
                "target_queue": report.target_queue,
                "replayed": report.replayed,
                "failed": report.failed,
                "unaudited": report.unaudited,
                "not_found": report.not_found,
            }
        )
    else:
        out.line(f"replayed {len(report.replayed)} message(s) from {report.parking_queue} to {report.target_queue}")
        for message_id, why in report.failed.items():
            out.line(f"  NOT replayed (still parked) {message_id}: {why}")
        for message_id in report.unaudited:
            out.line(f"  replayed but MessageReplayed not published (record it by hand) {message_id}")
        for message_id in report.not_found:
            out.line(f"  not parked in {report.parking_queue} (already replayed or purged?) {message_id}")
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``herald`` console script."""
    settings = load_settings(OperatorSettings)
    return asyncio.run(run(sys.argv[1:] if argv is None else argv, settings))


if __name__ == "__main__":
    sys.exit(main())
