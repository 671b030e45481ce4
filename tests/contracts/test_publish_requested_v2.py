"""publish.requested v2 = v1 + surface + media; v1 stays readable and upgrades to v2 without changing meaning."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from herald.contracts import (
    MAX_MEDIA_ITEMS,
    Platform,
    PublishRequested,
    PublishRequestedV1,
    Surface,
    binding_key,
    from_amqp,
    legacy_publish_requested_binding,
    publish_requested_binding,
    service_source,
    to_amqp,
)
from herald.contracts.examples import example_for
from herald.contracts.generate import DEFAULT_ROOT
from herald.contracts.schemas import schema_path


def _v2(**overrides: Any) -> dict[str, Any]:
    return example_for(PublishRequested).model_dump(mode="json") | overrides


def test_v1_and_v2_are_two_versions_of_one_type() -> None:
    assert PublishRequestedV1.TYPE == PublishRequested.TYPE
    assert (PublishRequestedV1.ce_type(), PublishRequested.ce_type()) == (
        "com.herald.publish.requested.v1",
        "com.herald.publish.requested.v2",
    )
    v1_fields = set(PublishRequestedV1.model_fields)
    assert set(PublishRequested.model_fields) - v1_fields == {"surface", "media"}
    assert v1_fields <= set(PublishRequested.model_fields)


def test_the_committed_v1_schema_keeps_its_title_and_has_no_media() -> None:
    committed = json.loads((DEFAULT_ROOT / schema_path(PublishRequestedV1)).read_text())
    assert committed["title"] == "PublishRequested"
    assert "media" not in committed["properties"]
    assert "surface" not in committed["properties"]


def test_the_v2_example_carries_two_ordered_media_items() -> None:
    example = example_for(PublishRequested)
    assert [item.kind.value for item in example.media] == ["image", "video"]
    assert example.media[0].alt_text
    assert example.surface is Surface.DEFAULT


def test_a_v1_payload_is_a_valid_v2_payload_with_defaults() -> None:
    v1 = example_for(PublishRequestedV1).model_dump(mode="json")
    as_v2 = PublishRequested.model_validate(v1)
    assert (as_v2.surface, as_v2.media) == (Surface.DEFAULT, [])


@pytest.mark.parametrize(
    ("platform", "surface"),
    [(Platform.X, Surface.DEFAULT), (Platform.LINKEDIN, Surface.DEFAULT), (Platform.META, Surface.FACEBOOK_PAGE)],
)
def test_upgrade_keeps_every_v1_field_and_says_where_v1_posted(platform: Platform, surface: Surface) -> None:
    v1 = example_for(PublishRequestedV1).model_copy(update={"platform": platform})
    upgraded = v1.upgrade()
    assert type(upgraded) is PublishRequested
    assert upgraded.model_dump(exclude={"surface", "media"}) == v1.model_dump()
    assert (upgraded.surface, upgraded.media) == (surface, [])


def test_at_most_ten_media_items() -> None:
    item = _v2()["media"][0]
    assert len(PublishRequested.model_validate(_v2(media=[item] * MAX_MEDIA_ITEMS)).media) == 10
    with pytest.raises(ValidationError, match="media"):
        PublishRequested.model_validate(_v2(media=[item] * (MAX_MEDIA_ITEMS + 1)))


def test_unknown_surface_is_rejected() -> None:
    with pytest.raises(ValidationError, match="surface"):
        PublishRequested.model_validate(_v2(surface="tiktok"))


def test_each_version_travels_on_its_own_routing_key() -> None:
    v2 = to_amqp(example_for(PublishRequested), source=service_source("scheduler"))
    v1 = to_amqp(example_for(PublishRequestedV1), source=service_source("scheduler"))
    assert (v2.routing_key, v1.routing_key) == ("publish.requested.v2.linkedin", "publish.requested.v1.linkedin")
    assert type(from_amqp(v2.body, v2.headers)) is PublishRequested
    assert type(from_amqp(v1.body, v1.headers)) is PublishRequestedV1


def test_publishers_bind_v2_and_the_legacy_v1_key() -> None:
    assert publish_requested_binding(Platform.META) == "publish.requested.v2.meta"
    assert legacy_publish_requested_binding(Platform.META) == "publish.requested.v1.meta"
    assert binding_key(PublishRequested) == "publish.requested.v2.*"
