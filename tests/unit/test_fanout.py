"""engine/fanout: the one thread pool. Results in order; what a call raises is told apart from what it
returns (reach.probe_all returns HostUnreachable as a value); the first raised, in order, is raised."""

from __future__ import annotations

import threading

import pytest

from pdcompose.engine.fanout import each, each_or_error, together


def test_results_come_in_the_items_order_and_the_calls_overlap():
    started = threading.Barrier(4, timeout=5)      # all four must be running at once to get past it

    def slow(i: int) -> int:
        started.wait()
        return i * 10

    assert each(slow, [3, 1, 2, 0]) == [30, 10, 20, 0]


def test_a_returned_exception_is_a_result_and_a_raised_one_an_error():
    assert each(lambda x: ValueError(x), [1, 2])[1].args == (2,)
    assert [type(r) for r in each_or_error(lambda x: 1 // x, [1, 0])] == [int, ZeroDivisionError]
    with pytest.raises(KeyError, match="first"):
        each(lambda k: {}[k], ["first", "second"])
    assert each(str, []) == [] and together([]) == []


def test_together_runs_different_calls():
    assert together([lambda: 1, lambda: "a", lambda: None]) == [1, "a", None]
