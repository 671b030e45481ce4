"""The garbage collector as a service runs it: the start-up heap frozen, young collections far apart."""

import gc
from collections.abc import Iterator

import pytest

from herald.kit.memory import GC_YOUNG_THRESHOLD, tune_collector

pytestmark = pytest.mark.fast


@pytest.fixture
def collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("collector")
def test_serving_freezes_the_start_up_heap_and_collects_the_young_generation_less_often() -> None:
    older = gc.get_threshold()[1:]
    built_at_start_up = [{"model": i} for i in range(1000)]
    tune_collector()
    assert gc.get_freeze_count() >= len(built_at_start_up)
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *older)
    assert GC_YOUNG_THRESHOLD > 700  # CPython's default
