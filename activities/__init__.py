"""Orchard's activities: everything that touches git, processes and files."""

from activities.instance import run_instance
from activities.repo import resolve_base
from activities.rotation import take_turn
from activities.verify import verify_commit

ALL_ACTIVITIES = [run_instance, verify_commit, resolve_base, take_turn]

__all__ = ["ALL_ACTIVITIES", "resolve_base", "run_instance", "take_turn", "verify_commit"]
