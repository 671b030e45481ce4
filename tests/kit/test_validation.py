"""The intake's value check: the flat pass that clears clean values and the walk that names each problem agree."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from herald.kit.validation import value_problems

pytestmark = pytest.mark.fast

NOW = dt.datetime(2026, 12, 5, 9, 0, tzinfo=dt.UTC)
FAR = dt.datetime(9999, 6, 1, tzinfo=dt.UTC)  # after LATEST: an instant no retry delay can be added to


def _event(**changes: Any) -> dict[str, Any]:
    return {
        "time": NOW,
        "team_id": uuid.uuid4(),
        "text": "Launch day",
        "media": [{"media_id": uuid.uuid4(), "alt_text": "a cat"}],
        "tags": ("a", "b"),
        "naive": dt.datetime(9999, 12, 31),  # naive: not an instant Herald computes with
        "attempt": 3,
        "link": None,
    } | changes


def test_a_clean_event_has_no_problem() -> None:
    assert list(value_problems(_event())) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"text": "a\x00b"}, "text: text contains a NUL character (\\u0000) at position 1"),
        ({"media": [{"alt_text": "ok"}, {"alt_text": "\ud800"}]}, "media[1].alt_text: text contains an unpaired"),
        ({"tags": ("a", frozenset({"x\x00"}))}, "tags[1][0]: text contains a NUL"),
        ({"extra": {"k\x00": 1}}, "extra.k\x00: text contains a NUL"),
        ({"time": FAR}, "time: date-time 9999-06-01T00:00:00+00:00 is out of range"),
        ({"nested": {"at": [FAR]}}, "nested.at[0]: date-time"),
    ],
)
def test_every_problem_is_found_and_named_by_its_path(changes: dict[str, Any], expected: str) -> None:
    problems = list(value_problems(_event(**changes)))
    assert len(problems) == 1
    assert problems[0].startswith(expected), problems
