"""Long-lived entity workflows that runs share: rotations (and the locks and semaphores to come)."""
