"""The committed schemas, examples and AsyncAPI document: up to date, valid, and compatible with what was published."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker  # type: ignore[import-untyped,unused-ignore]
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from herald.contracts import EVENT_CLASSES, PublishRequested
from herald.contracts.base import Event
from herald.contracts.generate import ASYNCAPI_PATH, DEFAULT_ROOT, check, main, published_version_problems, write
from herald.contracts.schemas import dataschema, example_path, schema_path

ROOT = DEFAULT_ROOT
FORMATS = FormatChecker()


def _rfc3339(value: object) -> bool:
    return not isinstance(value, str) or dt.datetime.fromisoformat(value).tzinfo is not None


FORMATS.checks("date-time", raises=ValueError)(_rfc3339)  # jsonschema needs an extra package for date-time


def _load(relative: str) -> Any:
    return json.loads((ROOT / relative).read_text())


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A scratch copy of libs/contracts' committed artifacts."""
    root = tmp_path / "contracts"
    root.mkdir()
    shutil.copy(ROOT / "pyproject.toml", root)
    shutil.copy(ROOT / ASYNCAPI_PATH, root)
    shutil.copytree(ROOT / "schemas", root / "schemas")
    return root


def test_committed_artifacts_match_the_code() -> None:
    assert check(ROOT) == [], "run: uv run python -m herald.contracts.generate"


def test_code_is_compatible_with_every_published_version() -> None:
    assert published_version_problems(ROOT) == []


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.ce_type())
def test_committed_example_validates_against_schema_and_model(cls: type[Event]) -> None:
    schema, example = _load(schema_path(cls)), _load(example_path(cls))
    Draft202012Validator.check_schema(schema)
    assert schema["$id"] == dataschema(cls)
    Draft202012Validator(schema, format_checker=FORMATS).validate(example)
    assert cls.model_validate(example).model_dump(mode="json") == example


def test_schema_validation_would_catch_a_bad_example() -> None:
    validator = Draft202012Validator(_load(schema_path(PublishRequested)), format_checker=FORMATS)
    good = _load(example_path(PublishRequested))
    assert validator.is_valid(good)
    for bad in (
        {"platform": "myspace"},
        {"occurred_at": "2025-03-14T09:30:00"},
        {"max_attempts": 0},
        {"team_id": None},
    ):
        assert not validator.is_valid({**good, **bad}), bad
    assert not validator.is_valid({k: v for k, v in good.items() if k != "team_id"})


def test_check_reports_stale_missing_and_orphaned_files(tree: Path) -> None:
    assert check(tree) == []
    stale = tree / schema_path(PublishRequested)
    stale.write_text(json.dumps({**json.loads(stale.read_text()), "description": "Older words."}))
    (tree / example_path(PublishRequested)).unlink()
    orphan = tree / "schemas/com.herald.publish.requested/v0.schema.json"
    orphan.write_text("{}\n")
    run = "run python -m herald.contracts.generate"
    assert sorted(check(tree)) == [
        "schemas/com.herald.publish.requested/v0.schema.json: committed, but no registered model generates it; "
        "restore the model",
        f"schemas/com.herald.publish.requested/v2.example.json: missing; {run}",
        f"schemas/com.herald.publish.requested/v2.schema.json: differs from the code; {run}",
    ]


def test_write_regenerates_stale_files(tree: Path) -> None:
    (tree / ASYNCAPI_PATH).write_text("{}\n")
    (tree / example_path(PublishRequested)).unlink()
    written, problems = write(tree)
    assert problems == []
    assert sorted(written) == sorted([ASYNCAPI_PATH, example_path(PublishRequested)])
    assert check(tree) == []


def _publish_field_the_code_does_not_have(root: Path) -> None:
    """Simulate a committed v1 that had a field the code has since removed."""
    path = root / schema_path(PublishRequested)
    schema = json.loads(path.read_text())
    schema["properties"]["removed_since"] = {"type": "array", "items": {"type": "string"}}
    path.write_text(json.dumps(schema))


def test_write_refuses_a_breaking_change_to_a_published_version(tree: Path) -> None:
    _publish_field_the_code_does_not_have(tree)
    before = (tree / schema_path(PublishRequested)).read_text()
    (tree / ASYNCAPI_PATH).write_text("{}\n")

    written, problems = write(tree)

    assert written == []
    assert (tree / schema_path(PublishRequested)).read_text() == before
    assert (tree / ASYNCAPI_PATH).read_text() == "{}\n"
    assert problems == [
        "com.herald.publish.requested.v2: breaking change, removed_field at removed_since: the field was removed or "
        "renamed; publish com.herald.publish.requested v3 beside v2 instead"
    ]
    assert problems[0] in check(tree)


def test_a_committed_example_the_model_rejects_is_a_break(tree: Path) -> None:
    path = tree / example_path(PublishRequested)
    path.write_text(json.dumps({**json.loads(path.read_text()), "max_attempts": 50}))
    (problem,) = published_version_problems(tree)
    assert problem.startswith("com.herald.publish.requested.v2: the committed example no longer validates")
    assert "max_attempts" in problem


def test_command_line(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check", "--root", str(tree)]) == 0
    (tree / ASYNCAPI_PATH).unlink()
    assert main(["--check", "--root", str(tree)]) == 1
    assert "asyncapi.json: missing" in capsys.readouterr().err
    assert main(["--root", str(tree)]) == 0
    assert capsys.readouterr().out == "wrote asyncapi.json\n"
    _publish_field_the_code_does_not_have(tree)
    assert main(["--root", str(tree)]) == 1
    with pytest.raises(SystemExit):
        main(["--root", str(tree / "schemas")])


# AsyncAPI document ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def asyncapi() -> dict[str, Any]:
    document: dict[str, Any] = _load(ASYNCAPI_PATH)
    return document


def _pointer(document: Any, ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node = document
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def test_asyncapi_header(asyncapi: dict[str, Any]) -> None:
    assert asyncapi["asyncapi"] == "3.0.0"
    assert asyncapi["info"]["title"] == "Herald events"
    assert asyncapi["info"]["version"]
    assert set(asyncapi) <= {
        "asyncapi",
        "id",
        "info",
        "servers",
        "defaultContentType",
        "channels",
        "operations",
        "components",
    }


def test_asyncapi_references_all_resolve(asyncapi: dict[str, Any]) -> None:
    refs = _refs(asyncapi)
    assert len(refs) > 3 * len(EVENT_CLASSES)
    for ref in refs:
        _pointer(asyncapi, ref)


def test_asyncapi_has_a_channel_message_and_operations_per_event(asyncapi: dict[str, Any]) -> None:
    names = {message["name"] for message in asyncapi["components"]["messages"].values()}
    assert names == {cls.ce_type() for cls in EVENT_CLASSES}
    assert len(asyncapi["channels"]) == len(EVENT_CLASSES)
    for channel_id, channel in asyncapi["channels"].items():
        assert channel["bindings"]["amqp"]["exchange"]["name"] == "herald.events"
        placeholders = {part[1:-1] for part in channel["address"].split(".") if part.startswith("{")}
        assert placeholders == set(channel.get("parameters", {})), channel_id
        actions = {
            op["action"]
            for op in asyncapi["operations"].values()
            if op["channel"]["$ref"] == f"#/channels/{channel_id}"
        }
        assert actions == {"send", "receive"}, channel_id


def test_asyncapi_operations_use_their_channels_messages(asyncapi: dict[str, Any]) -> None:
    for operation_id, operation in asyncapi["operations"].items():
        channel_ref = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(f"{channel_ref}/messages/"), operation_id


def test_asyncapi_component_keys_are_valid(asyncapi: dict[str, Any]) -> None:
    key = re.compile(r"^[a-zA-Z0-9\.\-_]+$")
    for section in (asyncapi["channels"], asyncapi["operations"], *asyncapi["components"].values()):
        assert all(key.match(name) for name in section)


def test_asyncapi_examples_validate_against_payload_and_header_schemas(asyncapi: dict[str, Any]) -> None:
    registry: Registry[Any] = Registry().with_resource("urn:asyncapi", DRAFT202012.create_resource(asyncapi))
    for message in asyncapi["components"]["messages"].values():
        payload_schema = {"$ref": "urn:asyncapi" + message["payload"]["$ref"]}
        payload = Draft202012Validator(payload_schema, registry=registry, format_checker=FORMATS)
        headers = Draft202012Validator(message["headers"], format_checker=FORMATS)
        for example in message["examples"]:
            payload.validate(example["payload"])
            headers.validate(example["headers"])
            assert not payload.is_valid({**example["payload"], "occurred_at": "2025-03-14T09:30:00"})
            assert not headers.is_valid({**example["headers"], "cloudEvents_type": "com.herald.other.v1"})
