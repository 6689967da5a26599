"""The Orchard worker: hosts the strategy workflows and the activities on a task queue, and the
activities on this host's own queue (main.py). `python worker.py` (or `python -m orchard_worker`)
runs it; the client runs one in-process or in the background (client/embedded/). It imports no
client code: what both need is in orchard_common/."""
