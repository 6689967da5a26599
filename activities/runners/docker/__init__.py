"""The `docker` runner: each agent instance in its own hardened container."""

DEFAULT_IMAGE = "orchard-agent:latest"
"""The agent image a run uses unless it names one (docker/ builds it). Defined here, where no
Docker SDK is imported: the CLI's help names it."""
