"""What runbooks run on a worker's host: queue sources (and, with pipelines, their commands)."""
