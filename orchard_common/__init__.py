"""What the worker (worker.py) and the client (client/) both need, so that neither imports the
other's code: orchard.yaml (config), connecting to Temporal (connection), loading strategies and
modules by spec (strategy_loader), the workflow sandbox they run in (sandbox), the digest of
Orchard's own code (code), and a process's imports at its start (startup). Nothing here imports
client/ or worker.py; `code` and `startup` import the standard library only (the `orchard`
command's launcher imports them before anything else)."""
