"""The end-to-end tests' own fixtures (the session's server and the rest are tests/conftest.py's)."""

from tests.e2e.hosts import git_daemon

__all__ = ["git_daemon"]
