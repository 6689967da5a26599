"""Long-lived entity workflows that runs share: rotations, locks and semaphores, shared budgets and provider quotas."""
