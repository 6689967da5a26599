"""The embedded default: a local Temporal dev server (server.py) and background workers
(workers.py) under $ORCHARD_HOME, started by `orchard run` when no server is named; both outlive
the terminal, so detached runs keep going. `orchard server stop` stops them."""
