"""Workspaces kept on a host across activities: a loop's iterations and a pipeline's steps and
agent phases share one (kept.py) on the host that holds it (host.py: the host's task queue), whose
`origin` is a gateway to the user's repository (gateway.py). activities/loops and
activities/runbooks both use this room; neither imports the other."""
