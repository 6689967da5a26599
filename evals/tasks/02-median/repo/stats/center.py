def median(values: list[float]) -> float:
    """The middle value of `values` (which need not be sorted)."""
    ordered = sorted(values)
    return ordered[len(ordered) // 2]
