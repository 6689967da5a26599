"""Everything that touches git: the command runner, workspaces, branch import, refs."""
