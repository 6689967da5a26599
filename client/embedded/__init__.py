"""The embedded default: a local Temporal dev server (server.py) and background workers
(background_workers.py: Temporal worker processes, each `python -m orchard_worker`) under
$ORCHARD_HOME, started by `orchard run` when no server is named; both outlive the terminal, so
detached runs keep going. `orchard server stop` stops them. The pending worker
(pending_worker.py) is the one a cold `orchard run` starts early, before it knows it needs it."""
