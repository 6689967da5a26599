"""The `docker` runner: each agent instance in its own hardened container."""
