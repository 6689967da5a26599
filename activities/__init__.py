"""Orchard's activities: everything that touches git, processes and files."""

from activities.coordination.rotation import take_turn
from activities.git.refs import resolve_base
from activities.instance import run_instance
from activities.verification.commit import verify_commit

ALL_ACTIVITIES = [run_instance, verify_commit, resolve_base, take_turn]

__all__ = ["ALL_ACTIVITIES", "resolve_base", "run_instance", "take_turn", "verify_commit"]
