"""The `docker` runner: each agent instance in its own hardened container.

What the rest of Orchard needs to know of the runner without the Docker SDK is defined here: the
CLI's help names the image, a local instance's workspace asks for the image's user, and
`orchard run` asks the engine (status.py) whether it can run containers before anything starts."""

DEFAULT_IMAGE = "orchard-agent:latest"
"""The agent image a run uses unless it names one (docker/ builds it)."""
AGENT_UID = 1000
"""The image's non-root user; agents run as it when the worker is root (else as the worker's user)."""
LABEL_MANAGED = "orchard.managed"
LABEL_HOME = "orchard.home"
LABEL_RUN = "orchard.run_id"
LABEL_KEY = "orchard.key"
"""The labels of every container Orchard makes (engine.py): found again by them, only by their ORCHARD_HOME."""
BUILD_HINT = "build it with `docker build -t orchard-agent docker/` (or docker/build-offline-image.sh without a registry)"


class DockerError(Exception):
    """The engine refused or failed a call (an infrastructure error: retried)."""


class ImageMissing(Exception):
    """The agent image is not on this Docker host (bad input: not retried)."""
