"""Activities that reach the long-lived coordination workflows (rotations)."""
