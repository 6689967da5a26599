"""The `docker` runner: each agent instance in its own hardened container.

What the rest of Orchard needs to know of the image is defined here, where no Docker SDK is
imported: the CLI's help names the image, and a local instance's workspace asks the user."""

DEFAULT_IMAGE = "orchard-agent:latest"
"""The agent image a run uses unless it names one (docker/ builds it)."""
AGENT_UID = 1000
"""The image's non-root user; agents run as it when the worker is root (else as the worker's user)."""
