"""Where agents run: `local` (a process group on the worker's host), `sandbox` (bubblewrap, on the worker's host) or `docker` (a container)."""
