"""The compatibility checker, on mutated copies of real schemas."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from herald.contracts import PublishFailed, PublishRequested
from herald.contracts.compat import Break, BreakKind, breaking_changes
from herald.contracts.schemas import event_schema

Mutation = Callable[[dict[str, Any]], None]


def _mutated(mutate: Mutation) -> tuple[dict[str, Any], dict[str, Any]]:
    old = event_schema(PublishRequested)
    new = copy.deepcopy(old)
    mutate(new)
    return old, new


def _kinds(breaks: list[Break]) -> list[tuple[BreakKind, str]]:
    return [(b.kind, b.path) for b in breaks]


def _rename(schema: dict[str, Any]) -> None:
    schema["properties"]["body"] = schema["properties"].pop("text")
    schema["required"] = ["body" if name == "text" else name for name in schema["required"]]


def _remove(schema: dict[str, Any]) -> None:
    del schema["properties"]["link"]


def _add_required(schema: dict[str, Any]) -> None:
    schema["properties"]["language"] = {"type": "string"}
    schema["required"].append("language")


def _make_required(schema: dict[str, Any]) -> None:
    schema["required"].append("link")


def _make_optional(schema: dict[str, Any]) -> None:
    schema["required"].remove("title")


def _set(path: list[str], value: Any) -> Mutation:
    def mutate(schema: dict[str, Any]) -> None:
        node = schema
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return mutate


BREAKING: list[tuple[str, Mutation, list[tuple[BreakKind, str]]]] = [
    ("removed field", _remove, [(BreakKind.REMOVED_FIELD, "link")]),
    ("renamed field", _rename, [(BreakKind.REMOVED_FIELD, "text"), (BreakKind.NEW_REQUIRED_FIELD, "body")]),
    (
        "changed type",
        _set(["properties", "max_attempts", "type"], "string"),
        [(BreakKind.CHANGED_TYPE, "max_attempts")],
    ),
    (
        "changed format",
        _set(["properties", "scheduled_at", "format"], "date"),
        [(BreakKind.CHANGED_TYPE, "scheduled_at")],
    ),
    (
        "nullable became non-nullable",
        _set(["properties", "link"], {"type": "string", "pattern": "^https?://", "maxLength": 2048}),
        [(BreakKind.CHANGED_TYPE, "link")],
    ),
    (
        "type inside a nullable changed",
        _set(["properties", "link", "anyOf", 0, "type"], "integer"),  # type: ignore[list-item]
        [(BreakKind.CHANGED_TYPE, "link")],
    ),
    (
        "enum value added",
        _set(["$defs", "Platform", "enum"], ["x", "linkedin", "meta", "threads"]),
        [(BreakKind.CHANGED_TYPE, "platform")],
    ),
    (
        "enum value removed",
        _set(["$defs", "OverLengthPolicy", "enum"], ["reject", "truncate"]),
        [(BreakKind.CHANGED_TYPE, "over_length")],
    ),
    (
        "tighter constraint",
        _set(["properties", "text", "maxLength"], 280),
        [(BreakKind.CHANGED_TYPE, "text")],
    ),
    ("new required field", _add_required, [(BreakKind.NEW_REQUIRED_FIELD, "language")]),
    ("optional field made required", _make_required, [(BreakKind.NEW_REQUIRED_FIELD, "link")]),
    ("required field made optional", _make_optional, [(BreakKind.NO_LONGER_REQUIRED, "title")]),
]


@pytest.mark.parametrize(("mutation", "expected"), [(m, e) for _, m, e in BREAKING], ids=[n for n, _, _ in BREAKING])
def test_each_kind_of_break_is_detected(mutation: Mutation, expected: list[tuple[BreakKind, str]]) -> None:
    old, new = _mutated(mutation)
    assert _kinds(breaking_changes(old, new)) == expected


COMPATIBLE: list[tuple[str, Mutation]] = [
    ("unchanged", lambda s: None),
    ("new optional field", _set(["properties", "language"], {"type": "string", "default": "en"})),
    ("description changed", _set(["properties", "text", "description"], "Words.")),
    (
        "title and default changed",
        _set(["properties", "max_attempts"], {"type": "integer", "minimum": 1, "maximum": 20, "default": 3}),
    ),
    ("enum reordered", _set(["$defs", "Platform", "enum"], ["meta", "x", "linkedin"])),
    ("enum definition renamed", lambda s: _rename_def(s, "Platform", "SocialPlatform")),
]


def _rename_def(schema: dict[str, Any], old: str, new: str) -> None:
    schema["$defs"][new] = schema["$defs"].pop(old)
    schema["properties"]["platform"]["$ref"] = f"#/$defs/{new}"


@pytest.mark.parametrize("mutation", [m for _, m in COMPATIBLE], ids=[n for n, _ in COMPATIBLE])
def test_compatible_changes_are_allowed(mutation: Mutation) -> None:
    old, new = _mutated(mutation)
    assert breaking_changes(old, new) == []


def _nested(extra_props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "$defs": {
            "Media": {
                "type": "object",
                "properties": {"url": {"type": "string"}, **extra_props},
                "required": ["url", *required],
            }
        },
        "type": "object",
        "properties": {
            "media": {"type": "array", "items": {"$ref": "#/$defs/Media"}},
            "cover": {"anyOf": [{"$ref": "#/$defs/Media"}, {"type": "null"}], "default": None},
        },
        "required": ["media"],
    }


def test_nested_models_are_compared_field_by_field() -> None:
    old = _nested({"alt": {"type": "string"}}, [])
    assert breaking_changes(old, _nested({"alt": {"type": "string"}, "width": {"type": "integer"}}, [])) == []
    assert _kinds(breaking_changes(old, _nested({}, []))) == [
        (BreakKind.REMOVED_FIELD, "media[].alt"),
        (BreakKind.REMOVED_FIELD, "cover.alt"),
    ]
    assert _kinds(breaking_changes(old, _nested({"alt": {"type": "string"}}, ["alt"]))) == [
        (BreakKind.NEW_REQUIRED_FIELD, "media[].alt"),
        (BreakKind.NEW_REQUIRED_FIELD, "cover.alt"),
    ]


def test_break_messages_say_what_changed() -> None:
    old, new = _mutated(_set(["properties", "max_attempts", "type"], "string"))
    (change,) = breaking_changes(old, new)
    assert str(change) == (
        "changed_type at max_attempts: {'maximum': 20, 'minimum': 1, 'type': 'integer'} "
        "became {'maximum': 20, 'minimum': 1, 'type': 'string'}"
    )


def test_comparing_two_different_events_finds_many_breaks() -> None:
    changes = breaking_changes(event_schema(PublishRequested), event_schema(PublishFailed))
    assert (BreakKind.REMOVED_FIELD, "text") in _kinds(changes)
    assert (BreakKind.NEW_REQUIRED_FIELD, "reason") in _kinds(changes)
