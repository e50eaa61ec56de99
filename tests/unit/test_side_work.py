"""side_work.py: work beside the caller (a thread for large manifests) or on the caller's
thread only once its result is asked for (small ones; a refused commit never does it)."""

import threading

import pytest

from artefact.side_work import PARALLEL_ENTRIES, Inline, Parallel, beside, settle


def test_inline_work_runs_on_the_callers_thread_only_when_its_result_is_asked_for():
    calls = []
    job = beside(PARALLEL_ENTRIES - 1, lambda x: calls.append(threading.get_ident()) or x * 2, 21)
    assert isinstance(job, Inline)
    settle([job])  # a refused commit: the work is never done
    assert calls == []
    assert job.result() == 42 and job.result() == 42
    assert calls == [threading.get_ident()], "done once, here"


def test_parallel_work_runs_on_a_thread_of_its_own_and_hands_back_its_error():
    job = beside(PARALLEL_ENTRIES, threading.get_ident)
    assert isinstance(job, Parallel) and not isinstance(job, Inline)
    assert job.result() != threading.get_ident()

    def fails():
        raise ValueError("bad manifest")

    for make in (Parallel, Inline):
        with pytest.raises(ValueError, match="bad manifest"):
            make(fails).result()
