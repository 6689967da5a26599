"""`orchard eval`'s parts: the task folders (tasks), the selection methods compared (methods), the
hidden check on a fresh checkout of each candidate (checks) and the figures (report)."""
