"""Verification commands run on a checkout of a commit."""
