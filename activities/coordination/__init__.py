"""Activities that reach the long-lived coordination workflows (rotations, semaphores, shared budgets) and signal the runs that wait for an event."""
