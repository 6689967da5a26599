"""A loop's iteration on the host that holds its workspace: agent, snapshot, verification, the branch moved on (iteration.py)."""
