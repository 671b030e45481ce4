"""The JSON Schema of each event version, its ``dataschema`` URI and where it is committed.

Layout under ``libs/contracts/``::

    schemas/<type>/v<N>.schema.json    e.g. schemas/com.herald.publish.requested/v1.schema.json
    schemas/<type>/v<N>.example.json   an example payload that validates against it
"""

from __future__ import annotations

from typing import Any, Final

from herald.contracts.base import Event

JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_URN_PREFIX: Final = "urn:herald:schema:"
SCHEMAS_DIR: Final = "schemas"


def dataschema(event_cls: type[Event]) -> str:
    """The ``dataschema`` URI of an event version, e.g. ``urn:herald:schema:com.herald.publish.requested:v1``.

    It is the ``$id`` of the committed JSON Schema ``schemas/com.herald.publish.requested/v1.schema.json``.
    """
    return f"{SCHEMA_URN_PREFIX}{event_cls.TYPE}:{event_cls.version_label()}"


def schema_path(event_cls: type[Event]) -> str:
    """Where the event version's JSON Schema is committed, relative to ``libs/contracts``."""
    return f"{SCHEMAS_DIR}/{event_cls.TYPE}/{event_cls.version_label()}.schema.json"


def example_path(event_cls: type[Event]) -> str:
    """Where the event version's example payload is committed, relative to ``libs/contracts``."""
    return f"{SCHEMAS_DIR}/{event_cls.TYPE}/{event_cls.version_label()}.example.json"


def event_schema(event_cls: type[Event]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an event version's payload, as committed."""
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": dataschema(event_cls),
        **event_cls.model_json_schema(mode="validation"),
    }
