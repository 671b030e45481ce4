"""The benchmark client pauses its own garbage collector while it times calls, and restores it after."""

import gc

import pytest

from bench.client import client_collector_paused

pytestmark = pytest.mark.fast


def test_the_collector_is_off_while_timing_and_as_it_was_after() -> None:
    assert gc.isenabled()
    with client_collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()

    gc.disable()
    try:
        with client_collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # left off by its owner
    finally:
        gc.enable()


def test_the_collector_comes_back_when_timing_fails() -> None:
    with pytest.raises(RuntimeError), client_collector_paused():
        raise RuntimeError("a call failed")
    assert gc.isenabled()
