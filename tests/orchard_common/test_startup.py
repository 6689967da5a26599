"""A process's imports run without the cyclic collector, and what they made is frozen out of later collections."""

from __future__ import annotations

import gc

from orchard_common.startup import importing


def test_imports_run_without_the_collector_which_then_skips_what_they_made():
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    try:
        with importing():
            assert not gc.isenabled()
            made = [[] for _ in range(1000)]
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen + len(made)
    finally:
        gc.unfreeze()


def test_a_collector_off_before_stays_off():
    gc.disable()
    try:
        with importing():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()
