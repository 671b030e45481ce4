"""Detect changes to an event version's JSON Schema that would break its consumers or producers.

A published version may only grow optional fields. Everything else is a break and needs a new version:

``removed_field``
    A field of the old schema is gone (a rename is a removal plus an addition).
``changed_type``
    A field's schema changed in anything but its annotations (title, description, default, examples): another
    type, format or constraint, a nullable field made non-nullable or the reverse, an enum value added or removed
    (an old consumer rejects a value it does not know; a new consumer rejects an old message's removed value).
``new_required_field``
    A field that old producers do not send is now required.
``no_longer_required``
    A required field became optional, so new producers may omit what old consumers require.

Nested objects (``$ref`` to a model) are compared field by field, so a new optional field in a nested model is
allowed too. The schemas are pydantic's ``model_json_schema`` output with local ``#/$defs/...`` references.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

Schema = Mapping[str, Any]

_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "$comment", "deprecated", "readOnly", "writeOnly"}
)


class BreakKind(StrEnum):
    """The kinds of breaking change."""

    REMOVED_FIELD = "removed_field"
    CHANGED_TYPE = "changed_type"
    NEW_REQUIRED_FIELD = "new_required_field"
    NO_LONGER_REQUIRED = "no_longer_required"


@dataclass(frozen=True)
class Break:
    """One breaking change, at ``path`` (dotted field names, ``[]`` for array items)."""

    kind: BreakKind
    path: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind.value} at {self.path}: {self.detail}"


def breaking_changes(old: Schema, new: Schema) -> list[Break]:
    """Every change from ``old`` to ``new`` that would break a consumer or producer of the old version."""
    return _Comparison(old, new).objects(old, new, "")


class _Comparison:
    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self._old_root = old_root
        self._new_root = new_root

    def objects(self, old: Schema, new: Schema, path: str) -> list[Break]:
        old_props: Mapping[str, Schema] = old.get("properties", {})
        new_props: Mapping[str, Schema] = new.get("properties", {})
        old_required = set(old.get("required", ()))
        new_required = set(new.get("required", ()))
        breaks: list[Break] = []
        for name, old_prop in old_props.items():
            where = f"{path}.{name}" if path else name
            if name not in new_props:
                breaks.append(Break(BreakKind.REMOVED_FIELD, where, "the field was removed or renamed"))
                continue
            if name in old_required and name not in new_required:
                breaks.append(Break(BreakKind.NO_LONGER_REQUIRED, where, "a required field became optional"))
            breaks += self.values(old_prop, new_props[name], where)
        for name in sorted(new_required - old_required):
            where = f"{path}.{name}" if path else name
            what = "a new field is required" if name not in old_props else "an optional field became required"
            breaks.append(Break(BreakKind.NEW_REQUIRED_FIELD, where, what))
        return breaks

    def values(self, old: Schema, new: Schema, path: str) -> list[Break]:
        old, new = self._resolve(old, self._old_root), self._resolve(new, self._new_root)
        if "properties" in old and "properties" in new:
            return self.objects(old, new, path)
        if old.get("type") == new.get("type") == "array" and "items" in old and "items" in new:
            return self.values(old["items"], new["items"], f"{path}[]")
        if "anyOf" in old and "anyOf" in new and len(old["anyOf"]) == len(new["anyOf"]):
            rest_old, rest_new = _without(old, "anyOf"), _without(new, "anyOf")
            if self._normal(rest_old, self._old_root) == self._normal(rest_new, self._new_root):
                return [b for o, n in zip(old["anyOf"], new["anyOf"], strict=True) for b in self.values(o, n, path)]
        before, after = self._normal(old, self._old_root), self._normal(new, self._new_root)
        if before != after:
            return [Break(BreakKind.CHANGED_TYPE, path, f"{_brief(before)} became {_brief(after)}")]
        return []

    def _resolve(self, schema: Schema, root: Schema) -> Schema:
        """Follow a ``$ref`` (keeping sibling keywords other than annotations)."""
        seen: set[str] = set()
        while "$ref" in schema:
            ref = schema["$ref"]
            if ref in seen:
                raise ValueError(f"cyclic $ref {ref}")
            seen.add(ref)
            target = _pointer(root, ref)
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref" and k not in _ANNOTATIONS}}
        return schema

    def _normal(self, schema: Any, root: Schema) -> Any:
        """The schema with references inlined and annotations dropped, for comparing."""
        if isinstance(schema, Mapping):
            resolved = self._resolve(schema, root)
            normal = {k: self._normal(v, root) for k, v in sorted(resolved.items()) if k not in _ANNOTATIONS}
            if isinstance(normal.get("enum"), list):
                normal["enum"] = sorted(normal["enum"], key=repr)  # order of values does not matter
            return normal
        if isinstance(schema, list):
            return [self._normal(item, root) for item in schema]
        return schema


def _pointer(root: Schema, ref: str) -> Schema:
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are supported, got {ref!r}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    if not isinstance(node, Mapping):
        raise TypeError(f"{ref} does not point to a schema")
    return node


def _without(schema: Schema, key: str) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k != key}


def _brief(schema: Any) -> str:
    text = repr(schema)
    return text if len(text) <= 160 else f"{text[:157]}..."
