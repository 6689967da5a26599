"""From a finished run's candidates to a landed change: which candidate (candidates), the commit
that lands it (combine), moving the branch (place), what landed (record), a pull request's text
(pull_request) and what `orchard prune` may remove (pruning)."""
