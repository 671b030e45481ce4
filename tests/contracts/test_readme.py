"""The README lists every event with its class and routing key."""

from __future__ import annotations

import pytest

from herald.contracts import EVENT_CLASSES, binding_key
from herald.contracts.base import Event
from herald.contracts.generate import DEFAULT_ROOT

README = (DEFAULT_ROOT / "README.md").read_text()


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.ce_type())
def test_readme_lists_the_event(cls: type[Event]) -> None:
    routing = binding_key(cls).replace(".*", ".{platform}")
    assert f"| `{cls.ce_type()}` | `{cls.__name__}` | `{routing}` |" in README
