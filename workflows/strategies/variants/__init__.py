"""Spearmint's strategies over variants of an agent run: multi-branch, shadow, round-robin."""
