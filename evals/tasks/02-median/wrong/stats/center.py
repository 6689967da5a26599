def median(values: list[float]) -> float:
    """The middle value of `values` (which need not be sorted)."""
    middle = len(values) // 2
    if len(values) % 2 == 0:
        return (values[middle - 1] + values[middle]) / 2
    return sorted(values)[middle]
